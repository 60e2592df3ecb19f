"""One untrusted file to a checked return: sniff and sheet_scan (before any parser), reader, worker, validate, feedback."""
