/*
 * pgctl/ — PostgreSQL adapter: supervision, non-blocking libpq, promote, follow, rewind, pg_hba.
 *
 * Public prefix: pgc_. Nothing is exported yet (issue 5).
 */
#ifndef BS_PGCTL_H
#define BS_PGCTL_H

#endif /* BS_PGCTL_H */
