/* app.c — the application layer's object and its per-group locks. */
#include "app/app.h"

#include "app/sinks.h"
#include "base/err.h"

int kp_app_init(kp_app_t *app)
{
        for (int i = 0; i < KP_APP_GROUP_LOCKS; i++) {
                if (pthread_mutex_init(&app->group_locks[i], NULL)) {
                        while (i-- > 0)
                                pthread_mutex_destroy(&app->group_locks[i]);
                        return KP_ERR_NOMEM;
                }
        }
        kp_app_sinks_install(app);
        return 0;
}

void kp_app_cleanup(kp_app_t *app)
{
        kp_app_sinks_uninstall(app);
        for (int i = 0; i < KP_APP_GROUP_LOCKS; i++)
                pthread_mutex_destroy(&app->group_locks[i]);
}

/* FNV-1a of the name: the same group always maps to the same stripe. */
static pthread_mutex_t *group_stripe(kp_app_t *app, const char *name)
{
        unsigned h = 2166136261u;
        for (const unsigned char *c = (const unsigned char *)name; *c; c++)
                h = (h ^ *c) * 16777619u;
        return &app->group_locks[h % KP_APP_GROUP_LOCKS];
}

void kp_app_group_lock(kp_app_t *app, const char *name)
{
        pthread_mutex_lock(group_stripe(app, name));
}

void kp_app_group_unlock(kp_app_t *app, const char *name)
{
        pthread_mutex_unlock(group_stripe(app, name));
}
