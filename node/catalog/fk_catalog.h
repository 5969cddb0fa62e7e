/*  fk_catalog - the service catalog kept in the store.

    A service instance is the record "svc/<service>/<id>" owned by the node
    that announced it; its payload is the canonical definition
    (registry/fk_service.h) plus "source": "api" or "file:<path>". Keying
    by service name first lets an answer read only the instances of the
    services a manifest requires, whatever the size of the catalog.

    Service ids are unique per node: registering an id again replaces the
    node's previous instance with that id, even under another service name.

    Threads: any thread; writes take the store's write transaction. */

#ifndef FK_CATALOG_H_INCLUDED
#define FK_CATALOG_H_INCLUDED

#include "fk_audit.h"
#include "fk_store.h"

#include <jansson.h>
#include <stdbool.h>

/*  Register canonical (from fk_service_parse) as the local node's, with
    source "api" or "file:<path>". A definition with checks starts with
    every check critical ("not checked yet"); registering a definition
    equal to the stored one (same source too) writes nothing and keeps its
    health. Returns 0 once committed, FK_EINVAL_INPUT for checks that are
    not canonical, or a store error. */
int fk_catalog_register(fk_store_t *store, const json_t *canonical, const char *source);

/*  Replace the health of the local instance that definition (its canonical
    form, with or without source and health) describes by health (the
    record form of fk_health.h; borrowed). Nothing is written when the
    stored health is equal already. Returns 0 once committed (or when
    nothing needed writing); FK_ENOTFOUND when there is no local instance
    with definition's id, or its checks differ from definition's (it was
    registered again meanwhile: that health is stale); FK_EINVAL_INPUT for
    a definition without id or a health that is not an object; or a store
    error. */
int fk_catalog_set_health(fk_store_t *store, const json_t *definition, const json_t *health);

/*  Deregister the local service with this id. Returns 0 once committed,
    FK_ENOTFOUND, or a store error. On a full store it tries again for up
    to about 2 s while readers still hold the pages the delete needs, so
    the call may block that long before -ENOSPC. */
int fk_catalog_deregister(fk_store_t *store, const char *id);

/*  Every service instance in txn, as a new JSON array of canonical
    definitions with "node" and "source" added, in (service, id, node)
    order. Services of failed or departed nodes are left out unless all
    is set, in which case each instance also gets "node_status" (alive,
    suspect, failed, left). With local_only, only the local node's. */
json_t *fk_catalog_list(fk_store_t *store, fk_store_txn_t *txn, bool local_only, bool all);

/*  The local service with this id as a new JSON object, or NULL. */
json_t *fk_catalog_get_local(fk_store_t *store, fk_store_txn_t *txn, const char *id);

/*  The instances that could satisfy a canonical manifest's requirements
    (fk_manifest.h): the first live instance (smallest id, then node) of
    each required service name that is passing, else the first that is
    warning (fk_health_of), and for a bare-string requirement also those
    tagged with it that are not critical. Critical instances, and
    instances of failed or departed nodes, never count. A new JSON array in the input shape of fk_compose. */
json_t *fk_catalog_candidates(fk_store_txn_t *txn, const json_t *manifest);

/*  Make the local node's file-sourced services equal to the definitions in
    directory dir (*.yaml, *.yml, *.json): register new and changed ones,
    deregister those whose file is gone. A file that fails to parse is
    logged with its name, field and reason and skipped; the service it
    defined before stays registered (a bad edit never drops a good
    service). Only regular files and symlinks to regular files are read;
    a FIFO, device or socket is skipped (logged) without being opened for
    reading, so nothing in the directory can block the caller. Every
    registration that changed the catalog and every deregistration is
    recorded in audit (when not NULL) with the actor "services-dir".
    Returns the number of files that failed, or a negative store error. A
    missing directory counts as empty. */
int fk_catalog_sync_dir(fk_store_t *store, const char *dir, fk_audit_t *audit);

#endif
