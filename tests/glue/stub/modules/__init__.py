"""A small stand-in for the WebUI's `modules` package, mirroring AUTOMATIC1111 v1.10.1's signatures for the parts
the extension touches. Tests put it on sys.path only while they run."""
