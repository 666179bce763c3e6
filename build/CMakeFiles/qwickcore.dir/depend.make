# Empty dependencies file for qwickcore.
# This may be replaced when dependencies are built.
