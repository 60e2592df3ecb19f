"""inbox/ to the store and the master: inbox, lock, filing, pipeline, watcher, runtime, service, results."""
