/* migrations.h — internal to db/: numbered schema migrations and their applier. */
#ifndef KP_MIGRATIONS_H
#define KP_MIGRATIONS_H

#include <sqlite3.h>
#include <stddef.h>

/* One schema change. Versions start at 1 and grow by one; a migration, once released,
 * is never edited: a later change is a new migration appended to the list. */
typedef struct kp_migration {
        int version;      /* 1, 2, 3, ... in list order */
        const char *name; /* short description, recorded with the version */
        const char *sql;  /* static SQL, one or more statements */
} kp_migration_t;

/* kplane's migrations, in order (static storage). */
extern const kp_migration_t kp_migrations[];
extern const size_t kp_migrations_count;

/* Applies every migration of @p list (@p count entries, versions 1..count in order)
 * that @p db has not applied yet, each in its own BEGIN IMMEDIATE transaction together
 * with its row in schema_migrations, so a failed migration leaves the schema at the
 * previous version. Safe against a second process migrating the same file at once.
 * @p db must not be inside a transaction. *versionp (may be NULL) = the schema version
 * after the call (also on failure).
 * @returns 0, KP_ERR_INVALID when the database is newer than @p list or the list is
 * malformed, KP_ERR_UNAVAILABLE when the database stayed locked, else KP_ERR_INTERNAL. */
int kp_migrations_apply(sqlite3 *db, const kp_migration_t *list, size_t count, int *versionp,
                        char *errstr, size_t errstr_size);

/* *versionp = the highest applied migration (0 for a new database). */
int kp_migrations_version(sqlite3 *db, int *versionp, char *errstr, size_t errstr_size);

#endif /* KP_MIGRATIONS_H */
