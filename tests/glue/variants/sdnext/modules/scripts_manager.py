"""SD.Next's script runner (vladmandic/sdnext, master at 058a7f0c); its modules/scripts.py is a shim over it."""
