"""The store to the master workbook: reconcile, plan, style, sheets, SPC sheets, workbook (the atomic write)."""
