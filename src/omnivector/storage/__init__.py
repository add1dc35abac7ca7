"""The Lance seam: the pool of open datasets, locations, locks, dataset open/create/commit,
full-text queries and the unique-id check; the only package that imports lance."""
