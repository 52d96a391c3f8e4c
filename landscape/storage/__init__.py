"""Files: the HDF5 surface schema (the one source of truth) and its reading and writing, and the table writer."""
