"""Pure logic: scoring, progress, the adaptive engine, statements. Imports no flask, peewee or requests."""
