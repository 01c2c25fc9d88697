"""Reading import files into records: format detection and streaming parsers."""
