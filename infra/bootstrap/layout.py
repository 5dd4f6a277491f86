"""Object names of a run's prefix in the artifact store, shared by the node scripts
(``templates/*.sh``, which spell the same names) and the cloud job resource that reads them."""

#: Written last by the training node: ``{"manifest_sha256", "plan_sha256", "node", "finished_at"}``.
MARKER_OK = "_COMPLETE.json"
#: Written instead on failure: ``node <id> failed (exit N)`` then the log's tail.
MARKER_FAILED = "_FAILED.txt"
#: The job's latest progress event (one JSON object), uploaded every ~30 s while it runs.
PROGRESS = "progress.json"
REPORT = "report.json"
ARTIFACT = "artifact"
