"""The content pack format: reader, writer, signing and verification (see FORMAT.md, coming next)."""
