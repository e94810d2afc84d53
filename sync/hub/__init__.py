"""The national platform's reference service (Flask + peewee on PostgreSQL)."""
