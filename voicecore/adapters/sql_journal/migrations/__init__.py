"""Alembic's migrations of the journal's schema (run by voicecore.adapters.sql_journal.migrate)."""
