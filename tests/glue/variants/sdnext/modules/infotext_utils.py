# a1111 compatibility module: unused
