# Mirrors the attributes of modules/shared.py at v1.10.1 that the extension reads.
data_path = "."
