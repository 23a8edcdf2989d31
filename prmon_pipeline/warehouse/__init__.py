"""The PostgreSQL adapter: connections, migrations, snapshots and the transactional load."""
