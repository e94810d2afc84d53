"""The OPDS catalog of e-textbooks at /opds/, for e-reader apps (KOReader, FBReader, Librera)."""
