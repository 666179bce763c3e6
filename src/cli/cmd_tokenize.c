// cli/cmd_tokenize: `qwick tokenize MODEL TEXT`: the ids, space-separated on one line, no special
// tokens added, as llama.cpp's llama-tokenize prints them.
#include "cli.h"

#include <stdlib.h>

int qw_cmd_tokenize(int argc, char **argv) {
    const char *file = NULL;
    int no_special = 0;
    const qw_opt opts[] = {
        {"--file", "-f", QW_OPT_STR, &file, "tokenize this file's bytes verbatim instead of TEXT"},
        {"--no-parse-special", NULL, QW_OPT_FLAG, &no_special, "treat <|im_start|> etc. in the text as plain text"},
    };
    qw_cmd_spec spec = {"qwick tokenize MODEL (TEXT | -f FILE)",
                        "Prints the token ids of the text, space-separated, on one line. MODEL is a model "
                        "folder or a tokenizer.json file.",
                        opts, 2, 1, 2};
    const char *pos[2];
    int n_pos, r = qw_cli_parse(&spec, argc, argv, pos, &n_pos);
    if (r) return r == 1 ? 0 : 2;
    if ((n_pos == 2) == (file != NULL)) {
        fprintf(stderr, "qwick: give either TEXT or --file FILE\nusage: %s\n", spec.usage);
        return 2;
    }
    char *text = NULL;
    size_t len = 0;
    qw_status s = QW_OK;
    if (file) s = qw_file_read_all(file, (size_t)1 << 30, &text, &len);
    if (s != QW_OK) return qw_cli_fail(s);
    qw_tokenizer *tok = NULL;
    s = qw_cli_load_tokenizer(pos[0], &tok);
    int32_t *ids = NULL;
    size_t n = 0;
    if (s == QW_OK) s = qw_tok_encode(tok, file ? text : pos[1], file ? len : strlen(pos[1]), !no_special, &ids, &n);
    if (s == QW_OK) {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
    }
    free(ids);
    free(text);
    if (tok) qw_tok_free(tok);
    return s == QW_OK ? 0 : qw_cli_fail(s);
}
