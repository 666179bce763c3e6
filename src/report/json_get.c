// report/json_get: the typed field reader the bench and eval result readers share, so a malformed field
// is refused the same way, with the file and the field named, whichever kind of file it is in.
#include "report.h"

#include <cjson/cJSON.h>
#include <math.h>

qw_status qw_report_json_num(const cJSON *o, const char *path, const char *where, const char *key, int required,
                             double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NAN;
    if (!v || cJSON_IsNull(v))
        return required ? qw_error(QW_ERR_FORMAT, "%s: %s has no \"%s\"", path, where, key) : QW_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return qw_error(QW_ERR_FORMAT, "%s: %s: \"%s\" must be a number", path, where, key);
    *out = v->valuedouble;
    return QW_OK;
}
