"""The SQLite audit store: schema and the current_submissions and current_values views, records,
merging imports, queries, the validation history cache, the template's Last month text."""
