"""What the operations page shows about the deployment itself: the nodes serving it (each
process writes a heartbeat), the background jobs' last runs, and whether the database and
Redis answer. Written off the request path; read by the admin console."""
