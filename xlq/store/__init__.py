"""The SQLite audit store: schema and the current_submissions view, records, queries, the
validation history cache, the template's Last month text."""
