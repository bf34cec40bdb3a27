/* cli/rwkv_decode.c - rwkv-decode: CTC beam-search decoding from the shell.
 *
 * Reads emissions (.npy), decodes each utterance with the decoder module and
 * prints one line per utterance, in input order, whatever the thread count.
 * All decoding logic lives in decoder/; this file parses options, lists and
 * files and loads the models; the batch (worker threads, results in input
 * order, signals) is cli/workers.c, --stream is cli/stream.c, the output
 * formats cli/output.c. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/batch_list.h"
#include "cli/cli_util.h"
#include "cli/decode_app.h"
#include "cli/output.h"
#include "cli/stream.h"
#include "cli/workers.h"
#include "common/npy.h"
#include "common/status.h"
#include "common/text.h"
#include "decoder/decoder.h"
#include "decoder/emissions.h"
#include "lexicon/lexicon.h"
#include "lexicon/units.h"
#include "lmstate/lm.h"
#include "lmstate/rwkv/lm_rwkv.h"
#include "lmstate/state_file.h"
#include "kernels/kernels.h"

#define HOTWORD_WEIGHT 2.0f /* --hotword-weight default: natural log, per word */

/* ---------- options ---------- */

enum { OPT_TMIN = 600, OPT_RESUME, OPT_STREAM, OPT_CHUNK, OPT_STIMEOUT, OPT_CARRY, OPT_LMSTATE };
enum { OPT_PREFIX = 512, OPT_LATOK, OPT_LMTH, OPT_VOCAB, OPT_SDT, OPT_MAXMEM };
enum { OPT_BLANK = 256, OPT_DELIM, OPT_BEAM, OPT_BST, OPT_BTH, OPT_LMW, OPT_WS, OPT_UNK, OPT_HOM,
       OPT_NOLA, OPT_NBEST, OPT_FORMAT, OPT_THREADS, OPT_SHARD, OPT_KEEP, OPT_QUIET, OPT_INPUT,
       OPT_LENGTHS };
#define CONF_NBEST 16 /* hypotheses the word confidence is computed over, at least */
enum { OPT_VERSION = 700, OPT_FSHIFT, OPT_TOKTIMES, OPT_CONF, OPT_PARTIAL, OPT_LAST = 1024 };
enum { OPT_HOTWORDS = 800, OPT_HOTWEIGHT, OPT_WSEP }; /* option values stay below OPT_LAST */
enum { OPT_DEVICE = 850, OPT_BATCH };
enum { DEV_CPU, DEV_AUTO, DEV_CUDA };
enum { OPT_RESCORE = 900, OPT_RESCORE_W, OPT_RESCORE_WS };
enum { OPT_UNITTYPE = 950 };

/* Options that do nothing without another one are refused rather than
 * silently ignored (the needs of a row of opt_table below). NEED_RWKV is checked once the LM is
 * loaded (an ARPA model has no tokenizer, threads or state). */
enum { NEED_LM = 1, NEED_LEXICON = 2, NEED_LM_OR_LEXICON = 4, NEED_STREAM = 8, NEED_RWKV = 16, NEED_JSON = 32,
       NEED_JSON_OR_CTM = 64, NEED_HOTWORDS = 128, NEED_RESCORE = 256 };

/* The options, in --help order: one row an option (an alias has no help
 * lines), rows without a name are --help's other text. suggest: the option's
 * place in getopt_long's longopts, which orders "did you mean" suggestions;
 * needs: NEED_x, what the option is refused without; needs_rank (1, 2, ...;
 * 0 = no needs): the order they are checked in, which decides the option
 * reported when two do nothing. Defaults in the help lines are written out.
 * Adding an option: a row here (suggest = the next free place), then its
 * case in parse_options. */
typedef struct {
    const char *name; /* long option; NULL: --help text only */
    int has_arg, val, suggest, needs, needs_rank;
    const char *help; /* its --help lines; NULL for an alias */
} opt_row;

static const opt_row opt_table[] = {
    /* name, has_arg, val, suggest, needs, needs_rank, help */
    {NULL, 0, 0, -1, 0, 0,
     "usage: rwkv-decode [options] [FILE.npy ...]\n"
     "\n"
     "CTC prefix beam search over acoustic-model outputs ([T,V] .npy), with an\n"
     "optional lexicon (words, homophones) and language model (ARPA n-gram or RWKV).\n"
     "\n"
     "Input (one of):\n"},
    {"logits", required_argument, 'l', 0, 0, 0,
     "  --logits FILE.npy        one utterance; prints its text alone\n"},
    {NULL, 0, 0, -1, 0, 0,
     "  FILE.npy ...             several; prints 'id<TAB>text' (id = file name without .npy)\n"},
    {"list", required_argument, 'L', 1, 0, 0,
     "  --list FILE              lines 'utt_id<TAB>path.npy' (or 'utt_id path', Kaldi style);\n"
     "                           '-' or no input at all reads the list from stdin\n"},
    {"lengths", required_argument, OPT_LENGTHS, 28, 0, 0,
     "  --lengths FILE.npy       with a 3-D [B,T,V] --logits: frames used per row (ids FILE/0, FILE/1, ...)\n"},
    {"input", required_argument, OPT_INPUT, 27, 0, 0,
     "  --input KIND             auto|logits|logprobs|probs (default auto: raw logits are\n"
     "                           detected on any row and log-softmaxed; -inf is refused in\n"
     "                           raw logits unless the kind is given)\n"},
    {NULL, 0, 0, -1, 0, 0,
     "\n"
     "Model:\n"},
    {"tokens", required_argument, 't', 2, 0, 0,
     "  --tokens FILE            units, one a line (default: X.tokens.txt beside X.npy, or\n"
     "                           tokens.txt in its folder); also k2 'unit id' lines, a Hugging\n"
     "                           Face vocab.json, a fairseq dict.ltr.txt ('unit count'; its\n"
     "                           <s> <pad> </s> <unk> are ids 0-3, <s> the blank)\n"},
    {"blank", required_argument, OPT_BLANK, 5, 0, 0,
     "  --blank NAME             blank unit (default: <blank>, <pad>, <blk>, <s> or _)\n"},
    {"word-delimiter", required_argument, OPT_DELIM, 6, 0, 0,
     "  --word-delimiter NAME    word delimiter unit (default: |, <space> or ▁; '' for none)\n"},
    {"unit-type", required_argument, OPT_UNITTYPE, 8, 0, 0,
     "  --unit-type TYPE         auto|char|sentencepiece (default auto: sentencepiece when a\n"
     "                           tenth of the units are pieces like ▁the). sentencepiece:\n"
     "                           a piece starting with ▁ starts a word ('▁ca t' is 'cat'),\n"
     "                           a lone ▁ is a piece, not the delimiter; a --lexicon is\n"
     "                           then spelled in pieces (lexicon/spell_lexicon.py)\n"},
    {"lexicon", required_argument, 'x', 3, 0, 0,
     "  --lexicon FILE           words and their units; without it decoding is lexicon-free\n"
     "                           (words are spelled and split at the delimiter)\n"},
    {"lm", required_argument, 'm', 4, 0, 0,
     "  --lm FILE                language model: ARPA (.arpa, .arpa.gz/.xz/.bz2; not a KenLM\n"
     "                           binary) or RWKV (.bin/.pth/.safetensors); give it twice or\n"
     "                           more (up to 8) to search with their weighted sum (see\n"
     "                           --lm-weight): every hypothesis carries each model's state\n"},
    {"rescore", required_argument, OPT_RESCORE, 14, 0, 0,
     "  --rescore MODEL          rescore the --nbest list of each utterance with MODEL (RWKV\n"
     "                           or ARPA; prefixes shared, one batched call per word\n"
     "                           position): score = search total + W * its log-probability\n"
     "                           of the words and </s> + B * words, then re-ranked; JSON\n"
     "                           adds first_pass and rescore_lm. The search uses --lm, or none\n"},
    {"rescore-weight", required_argument, OPT_RESCORE_W, 15, NEED_RESCORE, 20,
     "  --rescore-weight W       weight of the rescoring log-probability, 0..1000 [0.5]\n"},
    {"rescore-word-score", required_argument, OPT_RESCORE_WS, 16, NEED_RESCORE, 21,
     "  --rescore-word-score B   added per word in the rescoring (NeMo's beta; offsets the\n"
     "                           cost the rescoring LM adds per word), -1000..1000 [0]\n"},
    {NULL, 0, 0, -1, 0, 0,
     "\n"
     "Search (defaults in brackets):\n"},
    {"beam", required_argument, OPT_BEAM, 7, 0, 0,
     "  --beam N                 hypotheses kept per frame (also --beam-size, --beam-width) [32]\n"},
    {"beam-size", required_argument, OPT_BEAM, 9, 0, 0,
     NULL},
    {"beam-width", required_argument, OPT_BEAM, 10, 0, 0,
     NULL},
    {"beam-size-token", required_argument, OPT_BST, 11, 0, 0,
     "  --beam-size-token N      units tried per frame, best first; 0 = all [0]\n"},
    {"beam-threshold", required_argument, OPT_BTH, 12, 0, 0,
     "  --beam-threshold F       drop hypotheses this far (natural log) below the best [25]\n"},
    {"token-min-logp", required_argument, OPT_TMIN, 29, 0, 0,
     "  --token-min-logp F       skip units whose frame log-probability is below F, unless\n"
     "                           the frame's best (pyctcdecode's pruning; -5 is its default,\n"
     "                           fast on peaky acoustic models) [-inf: off]\n"},
    {"lm-weight", required_argument, OPT_LMW, 13, NEED_LM, 1,
     "  --lm-weight F[,F...]     weight of the LM log-probability, 0..1000 [0.5]; with\n"
     "                           several --lm, one weight each in their order (the JSON lm\n"
     "                           is then the weighted sum, the search adding it at weight 1)\n"},
    {"word-score", required_argument, OPT_WS, 17, 0, 0,
     "  --word-score F           added per word, -1000..1000 [0]\n"},
    {"unk-score", required_argument, OPT_UNK, 18, NEED_LM_OR_LEXICON, 12,
     "  --unk-score F            added per word spelled outside the lexicon, -1000..1000 or\n"
     "                           -inf; with --lexicon the default -inf forbids such words, a\n"
     "                           finite value lets the decoder spell a missing word (units\n"
     "                           with a word delimiter only; else refused). Without\n"
     "                           --lexicon: added per word the ARPA --lm does not know\n"
     "                           (pyctcdecode's unk_score_offset, -10 there), and, if\n"
     "                           negative, while a word being spelled begins no ARPA word\n"
     "                           (times its characters / 6 beyond 6, as pyctcdecode)\n"
     "                           [-inf with --lexicon, 0 without]\n"},
    {"homophones", required_argument, OPT_HOM, 19, NEED_LEXICON, 10,
     "  --homophones H           candidates per hypothesis at a word end, best unigram\n"
     "                           first; 0 = every word sharing the units [32]. Without\n"
     "                           --lm, a Rime lexicon's weights are a unigram prior\n"
     "                           (at the default LM weight 0.5): 'shi' reads 是\n"},
    {"no-lookahead", no_argument, OPT_NOLA, 20, NEED_LEXICON | NEED_LM, 11,
     "  --no-lookahead           do not rank partial words by their best unigram\n"},
    {"lm-prefix", required_argument, OPT_PREFIX, 30, NEED_LM, 2,
     "  --lm-prefix TEXT         words fed to the LM before each utterance, unscored\n"
     "                           (context for domain biasing, e.g. 'the patient was')\n"},
    {"lm-state", required_argument, OPT_LMSTATE, 41, NEED_RWKV | NEED_LM, 3,
     "  --lm-state FILE          RWKV: start every utterance from this saved state (made by\n"
     "                           'rwkv-lm state save'; checked against the model), then\n"
     "                           --lm-prefix if given\n"},
    {"nbest", required_argument, OPT_NBEST, 21, 0, 0,
     "  --nbest N                hypotheses per utterance [1]; in text output N > 1 prints\n"
     "                           'id<TAB>rank<TAB>score<TAB>text' lines, best (rank 1) first\n"},
    {NULL, 0, 0, -1, 0, 0,
     "\n"
     "Hotwords and output:\n"},
    {"word-separator", required_argument, OPT_WSEP, 48, 0, 0,
     "  --word-separator S       between words of the output text [automatic: a space,\n"
     "                           none between two CJK characters]; '' joins every word\n"},
    {"hotwords", required_argument, OPT_HOTWORDS, 49, 0, 0,
     "  --hotwords FILE          phrases to boost, one a line: words, optional ':W' weight\n"
     "                           last, '#' comments; 'word{u n i t s}' adds a word the\n"
     "                           lexicon lacks (a missing word without units is an error).\n"
     "                           A complete phrase earns W per word; half a phrase, nothing\n"},
    {"hotword-weight", required_argument, OPT_HOTWEIGHT, 50, NEED_HOTWORDS, 16,
     "  --hotword-weight W       weight of phrases without ':W' (natural log, per word),\n"
     "                           -1000..1000 [2]\n"
     "                           A --list line's third column names that utterance's own\n"
     "                           hotword file (added to --hotwords for it)\n"},
    {NULL, 0, 0, -1, 0, 0,
     "\n"
     "Streaming and sessions:\n"},
    {"stream", no_argument, OPT_STREAM, 37, 0, 0,
     "  --stream                 decode --logits FILE frame by frame as it arrives: a .npy\n"
     "                           still being written (the header's T frames are awaited),\n"
     "                           or '-' (stdin: a .npy stream, or raw float32 frames of V\n"
     "                           values, V = units in --tokens). Each time more words become\n"
     "                           final, prints 'id<TAB>partial<TAB>words' (JSON: \"stable\");\n"
     "                           the last line is the usual result, equal to a whole decode\n"},
    {"partial", required_argument, OPT_PARTIAL, 47, NEED_STREAM, 15,
     "  --partial best|stable    partials: the words every hypothesis shares (final, only\n"
     "                           grows) or the current best hypothesis' text each time it\n"
     "                           changes (may be revised; JSON \"partial\") [stable]\n"},
    {"chunk-frames", required_argument, OPT_CHUNK, 38, NEED_STREAM, 13,
     "  --chunk-frames N         frames fed to the decoder at a time [1]\n"},
    {"stream-timeout", required_argument, OPT_STIMEOUT, 39, NEED_STREAM, 14,
     "  --stream-timeout S       give up on a growing file after S seconds without data [10]\n"},
    {"session-carry", no_argument, OPT_CARRY, 40, NEED_LM, 9,
     "  --session-carry          with ids 'session/utt': consecutive utterances of a session\n"
     "                           continue the LM context of the previous one's best result\n"},
    {NULL, 0, 0, -1, 0, 0,
     "\n"
     "RWKV language model:\n"},
    {"lm-threads", required_argument, OPT_LMTH, 31, NEED_RWKV | NEED_LM, 4,
     "  --lm-threads N           threads inside each batched RWKV step [1]\n"},
    {"lookahead-tokens", required_argument, OPT_LATOK, 35, NEED_RWKV | NEED_LM, 5,
     "  --lookahead-tokens N     look-ahead scores a partial word by the LM probability of\n"
     "                           its word's first N tokens (an upper bound); 0 = whole\n"
     "                           words (exact, slow for big lexicons) [4]\n"},
    {"vocab", required_argument, OPT_VOCAB, 32, NEED_RWKV | NEED_LM, 6,
     "  --vocab FILE             World tokenizer vocabulary [rwkv_vocab_v20230424.txt\n"
     "                           beside the model]\n"},
    {"state-dtype", required_argument, OPT_SDT, 33, NEED_RWKV | NEED_LM, 7,
     "  --state-dtype T          fp32|fp16|bf16 storage of the state cache; arithmetic\n"
     "                           stays fp32 [fp32]\n"},
    {"max-memory", required_argument, OPT_MAXMEM, 34, NEED_LM, 8,
     "  --max-memory MB          the process's limit: an RWKV LM's weights and the state caches\n"
     "                           of all threads together, an ARPA model [no limit]\n"},
    {NULL, 0, 0, -1, 0, 0,
     "\n"
     "Output and batches:\n"},
    {"format", required_argument, OPT_FORMAT, 22, 0, 0,
     "  --format text|json|ctm   'id<TAB>text' lines, one JSON object a line with the\n"
     "                           n-best (total/acoustic/lm scores) and word frames, or CTM\n"
     "                           ('id 1 start duration word [conf]', needs --frame-shift) [text]\n"},
    {"frame-shift", required_argument, OPT_FSHIFT, 42, NEED_JSON_OR_CTM, 17,
     "  --frame-shift S          seconds per frame (0.02 for wav2vec2): JSON words get\n"
     "                           start_time (first frame's start) and end_time (last frame's end)\n"},
    {"token-times", no_argument, OPT_TOKTIMES, 43, NEED_JSON, 18,
     "  --token-times            JSON: the best hypothesis' units with their frames\n"},
    {"confidence", no_argument, OPT_CONF, 46, NEED_JSON_OR_CTM, 19,
     "  --confidence             a word confidence (JSON \"conf\", CTM's last column): the\n"
     "                           posterior over the final n-best (16 at least) of the\n"
     "                           hypotheses with the same word at overlapping frames\n"},
    {"threads", required_argument, OPT_THREADS, 23, 0, 0,
     "  --threads N              utterances decoded in parallel; output order is kept [1]\n"},
    {"shard", required_argument, OPT_SHARD, 24, 0, 0,
     "  --shard K/N              decode only lines K, K+N, K+2N, ... (1 <= K <= N)\n"},
    {"device", required_argument, OPT_DEVICE, 44, 0, 0,
     "  --device auto|cpu|cuda   where to decode: cpu; cuda needs a CUDA build and device\n"
     "                           and exits 3 saying what is missing; auto = cuda when a\n"
     "                           device is found, else cpu. This version decodes on the\n"
     "                           CPU only: cuda exits 3, auto decodes on the CPU [cpu]\n"},
    {"batch", required_argument, OPT_BATCH, 45, NEED_RWKV | NEED_LM, 22,
     "  --batch B                utterances each thread decodes at once, taking turns on\n"
     "                           its core: their RWKV forward rows run as one batched call\n"
     "                           (fewer, bigger calls, the same results, a state cache\n"
     "                           each: worth it where small calls are slow, as for big\n"
     "                           models; see README, 'Which LM?'), 1..256 [1]\n"},
    {"keep-going", no_argument, OPT_KEEP, 25, 0, 0,
     "  --keep-going             report a bad utterance on stderr and go on; the exit\n"
     "                           status is then 1 if any failed; JSON output gets a line\n"
     "                           {\"utt\":...,\"error\":...} for it (--resume redoes it)\n"},
    {"resume", required_argument, OPT_RESUME, 36, 0, 0,
     "  --resume OUT             skip utterances whose id already has a complete line in\n"
     "                           OUT, an earlier (interrupted) output of the same command:\n"
     "                           rwkv-decode --list l.tsv --resume out.tsv >> out.tsv\n"
     "                           (a cut-off last line is dropped; see README, 'Resuming')\n"},
    {"quiet", no_argument, OPT_QUIET, 26, 0, 0,
     "  --quiet                  no summary line on stderr\n"},
    {"help", no_argument, 'h', 52, 0, 0,
     "  -h, --help               this text\n"},
    {"version", no_argument, OPT_VERSION, 51, 0, 0,
     "  --version                the version\n"},
    {NULL, 0, 0, -1, 0, 0,
     "\n"
     "Options are spelled in full (no abbreviations). One that does nothing in the given\n"
     "mode is refused: LM options without --lm, RWKV ones with an ARPA model, --homophones\n"
     "without --lexicon, --chunk-frames without --stream.\n"
     "\n"
     "Exit status: 0 ok, 1 bad input, 2 usage, 3 resources (memory); 130/143 after SIGINT/\n"
     "SIGTERM (every finished line is written first, stderr says how far it got).\n"
     "Emissions may also be plain text: one frame a line, values separated by spaces,\n"
     "tabs, commas or semicolons ('-' reads stdin); the content decides, not the name.\n"
     "\n"
     "Examples:\n"
     "  D=../shared/data\n"
     "  rwkv-decode --logits $D/emissions/librispeech-121-121726-0000.wav2vec2.npy \\\n"
     "      --lexicon $D/lexicon/librispeech-lm-vocab.lst --lm $D/lm/librispeech-3gram-pruned.arpa\n"
     "  rwkv-decode $D/emissions/*.npy            # lexicon-free, each with its tokens file\n"
     "  printf 'utt1\\tx.npy\\n' | rwkv-decode --tokens tokens.txt --format json\n"
     "  rwkv-decode --list test.tsv --tokens tokens.txt --shard 3/8 --threads 4 > part3.tsv\n"},
};
#define N_ROWS (sizeof opt_table / sizeof *opt_table)

static struct option longopts[N_ROWS + 1]; /* by suggest, then {0} */
static const opt_row *needs_order[N_ROWS]; /* by needs_rank, then NULL */

/* Fills longopts and needs_order from opt_table; aborts on a table whose
 * ranks leave a gap or repeat (a programming error). */
static void build_options(void) {
    if (longopts[0].name) return; /* built already */
    size_t n_opt = 0, n_needs = 0;
    for (size_t i = 0; i < N_ROWS; i++) {
        const opt_row *r = &opt_table[i];
        if (!r->name) continue;
        n_opt++;
        if (r->needs_rank) n_needs++;
    }
    for (size_t i = 0; i < N_ROWS; i++) {
        const opt_row *r = &opt_table[i];
        if (!r->name) continue;
        if (r->suggest < 0 || (size_t)r->suggest >= n_opt || longopts[r->suggest].name ||
            (r->needs_rank && ((size_t)r->needs_rank > n_needs || needs_order[r->needs_rank - 1])) ||
            !r->needs != !r->needs_rank) {
            fprintf(stderr, PROG ": internal error: option table row --%s has a bad suggest or needs_rank\n", r->name);
            abort();
        }
        longopts[r->suggest] = (struct option){r->name, r->has_arg, NULL, r->val};
        if (r->needs_rank) needs_order[r->needs_rank - 1] = r;
    }
}

static void print_help(void) {
    for (size_t i = 0; i < N_ROWS; i++)
        if (opt_table[i].help) fputs(opt_table[i].help, stdout);
}

/* Refuses given options that need what is missing; rwkv: -1 before the LM is
 * loaded (NEED_RWKV not checked), else whether it is an RWKV model. */
static int check_needs(const options *o, const unsigned char *given, int rwkv) {
    for (const opt_row *const *r = needs_order; *r; r++) {
        int n = (*r)->needs;
        if (!given[(*r)->val]) continue;
        const char *why = NULL;
        if ((n & NEED_LM) && !o->lm && !((n & NEED_RWKV) && o->rescore)) why = "without --lm";
        else if ((n & NEED_LEXICON) && !o->lexicon) why = "without --lexicon";
        else if ((n & NEED_HOTWORDS) && !o->hotwords && !o->list) why = "without --hotwords or --list";
        else if ((n & NEED_LM_OR_LEXICON) && !o->lm && !o->lexicon)
            why = "without --lexicon or --lm (it scores words the lexicon or the LM lacks)";
        else if ((n & NEED_STREAM) && !o->stream) why = "without --stream";
        else if ((n & NEED_RWKV) && rwkv == 0) why = "with an ARPA --lm (it is for RWKV models)";
        else if ((n & NEED_RESCORE) && !o->rescore) why = "without --rescore";
        else if ((n & NEED_JSON) && !o->json) why = "without --format json";
        else if ((n & NEED_JSON_OR_CTM) && !o->format->word_times) why = "without --format json or ctm";
        if (why) {
            fprintf(stderr, PROG ": --%s does nothing %s\n", (*r)->name, why);
            return 0;
        }
    }
    if (rwkv == 1 && given[OPT_UNK] && !o->lexicon) {
        fprintf(stderr, PROG ": --unk-score does nothing with an RWKV --lm and no --lexicon (an RWKV model knows "
                "every word)\n");
        return 0;
    }
    return 1;
}

/* --lm-weight F[,F...]: up to MAX_LMS numbers. */
static int parse_weights(const char *v, options *o) {
    o->n_lm_weights = 0;
    char buf[64];
    for (const char *p = v;; p++) {
        size_t n = strcspn(p, ",");
        if (o->n_lm_weights == MAX_LMS || n >= sizeof buf) {
            fprintf(stderr, PROG ": --lm-weight: expected at most %d numbers separated by commas, got '%s'\n", MAX_LMS, v);
            return 0;
        }
        memcpy(buf, p, n);
        buf[n] = '\0';
        if (!cli_parse_weight(PROG, "lm-weight", buf, 0, 1000, 0, &o->lm_weights[o->n_lm_weights++])) return 0;
        p += n;
        if (!*p) return 1;
    }
}

/* One weight per --lm: the search's lm_weight (one LM) or the mix's weights
 * with lm_weight 1 (several). */
static int settle_weights(options *o) {
    if (!o->n_lm_weights) {
        o->lm_weights[0] = 0.5f;
        o->n_lm_weights = 1;
    }
    if (o->n_lm > 1 && o->n_lm_weights == 1 && !o->lm_weight_given)
        for (int i = 1; i < o->n_lm; i++) o->lm_weights[o->n_lm_weights++] = o->lm_weights[0];
    if (o->n_lm && o->n_lm_weights != o->n_lm) {
        fprintf(stderr, PROG ": --lm-weight: %d weight%s for %d --lm (expected one per model, in their order)\n",
                o->n_lm_weights, o->n_lm_weights == 1 ? "" : "s", o->n_lm);
        return 0;
    }
    o->dec.lm_weight = o->n_lm > 1 ? 1.0f : o->lm_weights[0];
    return 1;
}

static int parse_options(int argc, char **argv, options *o, int *first_file) {
    build_options();
    memset(o, 0, sizeof *o);
    o->format = out_format_find("text");
    dec_options_default(&o->dec);
    o->threads = 1;
    o->batch = 1;
    o->rescore_weight = 0.5f;
    o->chunk_frames = 1;
    o->stream_timeout = 10.0f;
    o->hotword_weight = HOTWORD_WEIGHT;
    long v;
    int c;
    unsigned char given[OPT_LAST] = {0};
    if (!cli_check_long_options(PROG, argc, argv, "h", longopts)) return 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c > 0 && c < OPT_LAST) given[c] = 1;
        switch (c) {
        case 'l': o->logits = optarg; break;
        case 'L': o->list = optarg; break;
        case 't': o->tokens = optarg; break;
        case 'x': o->lexicon = optarg; break;
        case 'm':
            if (o->n_lm == MAX_LMS) { fprintf(stderr, PROG ": --lm: at most %d models\n", MAX_LMS); return 0; }
            o->lm_paths[o->n_lm++] = optarg;
            o->lm = o->lm_paths[0];
            break;
        case OPT_RESCORE: o->rescore = optarg; break;
        case OPT_RESCORE_W: if (!cli_parse_weight(PROG, "rescore-weight", optarg, 0, 1000, 0, &o->rescore_weight)) return 0; break;
        case OPT_RESCORE_WS: if (!cli_parse_weight(PROG, "rescore-word-score", optarg, -1000, 1000, 0, &o->rescore_word_score)) return 0; break;
        case OPT_BLANK: o->blank = optarg; break;
        case OPT_DELIM: o->delim = optarg; o->delim_given = 1; break;
        case OPT_UNITTYPE:
            if (strcmp(optarg, "auto") == 0) o->unit_type = LEX_UNITS_AUTO;
            else if (strcmp(optarg, "char") == 0) o->unit_type = LEX_UNITS_CHAR;
            else if (strcmp(optarg, "sentencepiece") == 0) o->unit_type = LEX_UNITS_SENTENCEPIECE;
            else { fprintf(stderr, PROG ": --unit-type: expected auto, char or sentencepiece, got '%s'\n", optarg); return 0; }
            break;
        case OPT_BEAM: if (!cli_parse_int(PROG, "beam", optarg, 1, 100000, &v)) return 0; o->dec.beam = (int)v; break;
        case OPT_BST: if (!cli_parse_int(PROG, "beam-size-token", optarg, 0, 1000000, &v)) return 0; o->dec.beam_size_token = (int)v; break;
        case OPT_BTH: if (!cli_parse_float(PROG, "beam-threshold", optarg, &o->dec.beam_threshold)) return 0; break;
        case OPT_LMW: if (!parse_weights(optarg, o)) return 0; o->lm_weight_given = 1; break;
        case OPT_WS: if (!cli_parse_weight(PROG, "word-score", optarg, -1000, 1000, 0, &o->dec.word_score)) return 0; break;
        case OPT_UNK: if (!cli_parse_weight(PROG, "unk-score", optarg, -1000, 1000, 1, &o->dec.unk_score)) return 0; o->unk_given = 1; break;
        case OPT_HOM: if (!cli_parse_int(PROG, "homophones", optarg, 0, 1000000, &v)) return 0; o->dec.homophones = (int)v; break;
        case OPT_NOLA: o->dec.lookahead = 0; break;
        case OPT_PREFIX: o->dec.lm_start.text = optarg; break;
        case OPT_TMIN: if (!cli_parse_float(PROG, "token-min-logp", optarg, &o->dec.token_min_logp)) return 0; break;
        case OPT_LMTH: if (!cli_parse_int(PROG, "lm-threads", optarg, 1, 256, &v)) return 0; o->lm_threads = (int)v; break;
        case OPT_VOCAB: o->vocab = optarg; break;
        case OPT_HOTWORDS: o->hotwords = optarg; break;
        case OPT_WSEP: o->dec.word_separator = optarg; break;
        case OPT_HOTWEIGHT: if (!cli_parse_weight(PROG, "hotword-weight", optarg, -1000, 1000, 0, &o->hotword_weight)) return 0; break;
        case OPT_LATOK: if (!cli_parse_int(PROG, "lookahead-tokens", optarg, 0, 64, &v)) return 0; o->lookahead_tokens = v ? (int)v : -1; break;
        case OPT_MAXMEM: if (!cli_parse_int(PROG, "max-memory", optarg, 1, 1L << 30, &v)) return 0; o->max_memory_mb = v; break;
        case OPT_SDT:
            if (!strcmp(optarg, "fp32")) o->state_dtype = 0;
            else if (!strcmp(optarg, "fp16")) o->state_dtype = 1;
            else if (!strcmp(optarg, "bf16")) o->state_dtype = 2;
            else {
                fprintf(stderr, PROG ": --state-dtype: '%s' is not fp32, fp16 or bf16\n", optarg);
                return 0;
            }
            break;
        case OPT_NBEST: if (!cli_parse_int(PROG, "nbest", optarg, 1, 10000, &v)) return 0; o->dec.nbest = (int)v; break;
        case OPT_FORMAT:
            if (!(o->format = out_format_find(optarg))) {
                char names[256];
                out_format_names(names, sizeof names);
                fprintf(stderr, PROG ": --format: expected %s, got '%s'\n", names, optarg);
                return 0;
            }
            o->json = o->format->json;
            break;
        case OPT_THREADS: if (!cli_parse_int(PROG, "threads", optarg, 1, 1024, &v)) return 0; o->threads = (int)v; break;
        case OPT_DEVICE:
            if (strcmp(optarg, "cpu") == 0) o->device = DEV_CPU;
            else if (strcmp(optarg, "auto") == 0) o->device = DEV_AUTO;
            else if (strcmp(optarg, "cuda") == 0) o->device = DEV_CUDA;
            else { fprintf(stderr, PROG ": --device: expected auto, cpu or cuda, got '%s'\n", optarg); return 0; }
            break;
        case OPT_BATCH: if (!cli_parse_int(PROG, "batch", optarg, 1, 256, &v)) return 0; o->batch = (int)v; break;
        case OPT_SHARD: if (!cli_parse_shard(PROG, optarg, &o->shard_k, &o->shard_n)) return 0; break;
        case OPT_KEEP: o->keep_going = 1; break;
        case OPT_RESUME: o->resume = optarg; break;
        case OPT_STREAM: o->stream = 1; break;
        case OPT_CHUNK: if (!cli_parse_int(PROG, "chunk-frames", optarg, 1, 1000000, &v)) return 0; o->chunk_frames = v; break;
        case OPT_STIMEOUT: if (!cli_parse_float(PROG, "stream-timeout", optarg, &o->stream_timeout)) return 0; break;
        case OPT_CARRY: o->session_carry = 1; break;
        case OPT_LMSTATE: o->lm_state = optarg; break;
        case OPT_QUIET: o->quiet = 1; break;
        case OPT_INPUT: {
            int k = dec_input_parse(optarg);
            if (k < 0) { fprintf(stderr, PROG ": --input: expected auto, logits, logprobs or probs, got '%s'\n", optarg); return 0; }
            o->input = (dec_input)k;
            break;
        }
        case OPT_LENGTHS: o->lengths = optarg; break;
        case 'h': print_help(); exit(0);
        case OPT_VERSION: puts(PROG " " RD_VERSION); exit(0);
        case OPT_FSHIFT:
            if (!cli_parse_float(PROG, "frame-shift", optarg, &o->frame_shift)) return 0;
            if (!(o->frame_shift > 0 && o->frame_shift < 3600)) {
                fprintf(stderr, PROG ": --frame-shift: expected seconds per frame above 0 (e.g. 0.02), got '%s'\n", optarg);
                return 0;
            }
            break;
        case OPT_TOKTIMES: o->token_times = 1; break;
        case OPT_CONF: o->confidence = 1; break;
        case OPT_PARTIAL:
            if (strcmp(optarg, "best") == 0) o->partial_best = 1;
            else if (strcmp(optarg, "stable") == 0) o->partial_best = 0;
            else { fprintf(stderr, PROG ": --partial: expected best or stable, got '%s'\n", optarg); return 0; }
            break;
        default: fprintf(stderr, "try '" PROG " --help'\n"); return 0;
        }
    }
    *first_file = optind;
    if (o->logits && (o->list || optind < argc)) {
        fprintf(stderr, PROG ": give --logits, --list or files, not several of them\n");
        return 0;
    }
    if (o->list && optind < argc) {
        fprintf(stderr, PROG ": give --list or files, not both\n");
        return 0;
    }
    if (o->stream && !o->logits) {
        fprintf(stderr, PROG ": --stream reads one utterance: give --logits FILE.npy (a growing file) or --logits -\n");
        return 0;
    }
    if (o->stream && o->lengths) {
        fprintf(stderr, PROG ": --stream takes a 2-D [T,V] input, not --lengths\n");
        return 0;
    }
    if (o->resume && o->logits && !o->lengths) {
        fprintf(stderr, PROG ": --resume goes with batches (--list, files or a 3-D --logits), not one utterance\n");
        return 0;
    }
    if (given[OPT_BATCH] && o->stream) {
        fprintf(stderr, PROG ": --batch does nothing with --stream (one utterance)\n");
        return 0;
    }
    if (o->lengths && !o->logits) {
        fprintf(stderr, PROG ": --lengths goes with --logits (a 3-D [B,T,V] array)\n");
        return 0;
    }
    if (!check_needs(o, given, -1)) return 0;
    if (!settle_weights(o)) return 0;
    if (o->format->needs_frame_shift && !o->frame_shift) {
        fprintf(stderr, PROG ": --format %s needs --frame-shift SECONDS (seconds per frame, e.g. 0.02 for wav2vec2)\n", o->format->name);
        return 0;
    }
    o->nbest_out = o->dec.nbest;
    if (o->confidence && o->dec.nbest < CONF_NBEST) o->dec.nbest = CONF_NBEST; /* the posterior's n-best */
    memcpy(o->given, given, sizeof given);
    o->longopts = longopts;
    if (!o->unk_given) o->dec.unk_score = o->lexicon ? -INFINITY : 0.0f;
    if (!o->lm && !o->lexicon) o->dec.lm_weight = 0.0f; /* a Rime lexicon's weights: the LM-less prior */
    return 1;
}

/* --device: 0 to decode on the CPU, else 3 with the reason on stderr. The
 * GPU decode path is not wired yet (kernels/ and lmstate/rwkv/rwkv_cuda.c are):
 * cuda always exits 3, naming what is missing; auto decodes on the CPU. */
static int resolve_device(const options *o) {
    if (o->device == DEV_CPU) return 0;
    rd_error why;
    int have = rd_cuda_available(&why);
    if (o->device == DEV_CUDA) {
        if (!have) fprintf(stderr, PROG ": --device cuda: %s\n", why.msg);
        else fprintf(stderr, PROG ": --device cuda: a CUDA device was found, but this version decodes on the CPU "
                     "only (the GPU decode path is not wired yet); use --device cpu\n");
        return 3;
    }
    if (have && !o->quiet)
        fprintf(stderr, PROG ": --device auto: a CUDA device was found, but this version decodes on the CPU only\n");
    return 0;
}

/* ---------- inputs ---------- */

static char *xstrdup(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static rd_status add_item(app *a, long *cap, const char *id, size_t id_len, const char *path,
                          size_t path_len, int row, int64_t length, rd_error *err) {
    if (a->n_items == *cap) {
        long nc = *cap ? *cap * 2 : 256;
        item *ni = realloc(a->items, (size_t)nc * sizeof *ni);
        if (!ni) return rd_fail(err, RD_ERR_NOMEM, "out of memory for %ld utterances", nc);
        a->items = ni;
        *cap = nc;
    }
    item *it = &a->items[a->n_items];
    /* a list line costs its two strings in one block and this struct */
    it->id = malloc(id_len + path_len + 2);
    if (!it->id) return rd_fail(err, RD_ERR_NOMEM, "out of memory reading the list");
    memcpy(it->id, id, id_len);
    it->id[id_len] = '\0';
    it->path = it->id + id_len + 1;
    memcpy(it->path, path, path_len);
    it->path[path_len] = '\0';
    it->row = row;
    it->hot = -1;
    it->line = 0;
    it->length = length;
    it->ctx = -1;
    a->n_items++;
    return RD_OK;
}

/* The list's hotword file path[0..n): its index in a->hot (added once). */
static rd_status add_list_hotwords(app *a, const char *path, size_t n, int *idx, rd_error *err) {
    for (int i = 0; i < a->n_hot; i++)
        if (strlen(a->hot[i].path) == n && memcmp(a->hot[i].path, path, n) == 0) {
            *idx = i;
            return RD_OK;
        }
    void *nh = realloc(a->hot, (size_t)(a->n_hot + 1) * sizeof *a->hot);
    if (!nh) return rd_fail(err, RD_ERR_NOMEM, "out of memory");
    a->hot = nh;
    a->hot[a->n_hot].g = NULL;
    a->hot[a->n_hot].path = xstrdup(path, n);
    if (!a->hot[a->n_hot].path) return rd_fail(err, RD_ERR_NOMEM, "out of memory");
    *idx = a->n_hot++;
    return RD_OK;
}

static int cmp_str(const void *x, const void *y);

/* The list's first pass: every line parsed (a malformed one is the error), its
 * hotword files collected, and its ids checked as check_ids does for files:
 * first an id with a carriage return, then an id given twice (the first such
 * pair in list order). Only a hash is kept per id (bl_id_set); a hash seen
 * before is confirmed, and its first line found, by reading the list again. */
static rd_status read_list(app *a, const char *path, rd_error *err) {
    RD_TRY(bl_open(&a->list, path, err));
    a->listed = 1;
    a->list_name = a->list.name;
    bl_id_set seen = {0};
    long cr_line = 0, dup_line = 0, dup_first = 0;
    char *id = NULL, *dup_id = NULL;
    bl_entry e;
    rd_status st = RD_OK;
    int r;
    while ((r = bl_next(&a->list, &e, &st, err)) > 0) {
        a->list_total++;
        if (e.hot) {
            int idx;
            if ((st = add_list_hotwords(a, e.hot, e.hot_len, &idx, err)) != RD_OK) break;
        }
        free(id);
        if (!(id = xstrdup(e.id, e.id_len))) { st = rd_fail(err, RD_ERR_NOMEM, "out of memory"); break; }
        long line = e.line;
        if (!cr_line && strpbrk(id, "\t\n\r")) cr_line = line;
        if (dup_line) continue;
        int seen_before = bl_id_set_add(&seen, bl_id_hash(id));
        if (seen_before < 0) {
            st = rd_fail(err, RD_ERR_NOMEM, "out of memory checking %ld ids", a->list_total);
            break;
        }
        long first = 0;
        if (seen_before && (st = bl_find_id(&a->list, id, line, &first, err)) != RD_OK) break;
        if (first) dup_line = line, dup_first = first, dup_id = id, id = NULL;
    }
    free(id);
    bl_id_set_free(&seen);
    if (st == RD_OK && cr_line)
        st = rd_fail(err, RD_ERR_INPUT, "%s:%ld: the utterance id holds a carriage return", a->list_name, cr_line);
    else if (st == RD_OK && dup_line)
        st = rd_fail(err, RD_ERR_INPUT, "%s:%ld: utterance id '%s' is also on line %ld", a->list_name, dup_line,
                     dup_id, dup_first);
    free(dup_id);
    a->n_items = a->list_total;
    return st;
}

/* List utterance number k (0-based) with this id is decoded in this run. */
static int list_keeps(const app *a, long k, const char *id) {
    if (a->o.shard_n && k % a->o.shard_n != a->o.shard_k - 1) return 0;
    return !(a->n_done_ids && bsearch(&id, a->done_ids, a->n_done_ids, sizeof *a->done_ids, cmp_str));
}

/* The next list utterance kept by --shard and --resume, its strings in one
 * allocation: 1, 0 at the list's end, -1 on a read error. */
int list_take(app *a, item *it, rd_error *err) {
    bl_entry e;
    rd_status st = RD_OK;
    int r;
    while ((r = bl_next(&a->list, &e, &st, err)) > 0) {
        long k = a->list_k++;
        if (a->o.shard_n && k % a->o.shard_n != a->o.shard_k - 1) continue;
        memset(it, 0, sizeof *it);
        if (!(it->id = malloc(e.id_len + e.path_len + 2))) return rd_fail(err, RD_ERR_NOMEM, "out of memory"), -1;
        memcpy(it->id, e.id, e.id_len);
        it->id[e.id_len] = '\0';
        if (!list_keeps(a, k, it->id)) {
            free(it->id);
            continue;
        }
        it->path = it->id + e.id_len + 1;
        memcpy(it->path, e.path, e.path_len);
        it->path[e.path_len] = '\0';
        it->row = ROW_FILE;
        it->length = -1;
        it->line = e.line;
        it->hot = -1;
        for (int i = 0; e.hot && i < a->n_hot; i++)
            if (strlen(a->hot[i].path) == e.hot_len && memcmp(a->hot[i].path, e.hot, e.hot_len) == 0) it->hot = i;
        it->ctx = -1;
        char tok[4096];
        if (tokens_for(a, it->path, tok, sizeof tok))
            for (int i = 0; i < a->n_ctx; i++)
                if (strcmp(a->ctx[i].tokens_path, tok) == 0) it->ctx = i;
        return 1;
    }
    return r;
}

static rd_status expand_3d(app *a, long *cap, rd_error *err) {
    rd_npy *x = &a->batch3d;
    int64_t B = x->shape[0], T = x->shape[1];
    if (B == 0 || T == 0 || x->shape[2] == 0) /* no data, yet B slots would be reserved */
        return rd_fail(err, RD_ERR_INPUT, "%s: shape (%lld, %lld, %lld) has a zero dimension: expected utterances, "
                       "frames and units all at least 1", a->o.logits, (long long)B, (long long)T,
                       (long long)x->shape[2]);
    rd_npy len = {0};
    if (a->o.lengths) {
        RD_TRY(rd_npy_read(a->o.lengths, &len, err));
        if (len.size != B) {
            rd_npy_free(&len);
            return rd_fail(err, RD_ERR_INPUT, "%s: expected %lld lengths (one per row of %s), found %lld",
                           a->o.lengths, (long long)B, a->o.logits, (long long)len.size);
        }
    }
    char stem[512];
    cli_stem(a->o.logits, stem, sizeof stem);
    rd_status st = RD_OK;
    for (int64_t b = 0; b < B && st == RD_OK; b++) {
        int64_t L = T;
        if (len.data) {
            float f = len.data[b];
            if (!(f >= 0 && f <= (float)T) || f != floorf(f)) {
                st = rd_fail(err, RD_ERR_INPUT, "%s: length %g of row %lld is not a whole number in 0..%lld",
                             a->o.lengths, (double)f, (long long)b, (long long)T);
                break;
            }
            L = (int64_t)f;
        }
        char id[600];
        snprintf(id, sizeof id, "%s/%lld", stem, (long long)b);
        st = add_item(a, cap, id, strlen(id), a->o.logits, strlen(a->o.logits), (int)b, L, err);
    }
    rd_npy_free(&len);
    return st;
}

static rd_status collect_inputs(app *a, int argc, char **argv, int first, rd_error *err) {
    long cap = 0;
    if (a->o.logits) {
        /* a 3-D array is split into rows; a 2-D one is a single utterance */
        RD_TRY(rd_matrix_read(a->o.logits, &a->batch3d, err));
        if (a->batch3d.ndim == 3) return expand_3d(a, &cap, err);
        if (a->o.lengths)
            return rd_fail(err, RD_ERR_USAGE, "--lengths needs a 3-D [B,T,V] array, %s is not", a->o.logits);
        char stem[512];
        cli_stem(a->o.logits, stem, sizeof stem);
        a->single = 1;
        /* read once: "-" (stdin) cannot be read a second time */
        return add_item(a, &cap, stem, strlen(stem), a->o.logits, strlen(a->o.logits), ROW_LOADED, -1, err);
    }
    if (first < argc) {
        for (int i = first; i < argc; i++) {
            char stem[512];
            cli_stem(argv[i], stem, sizeof stem);
            RD_TRY(add_item(a, &cap, stem, strlen(stem), argv[i], strlen(argv[i]), -1, -1, err));
        }
        return RD_OK;
    }
    const char *list = a->o.list ? a->o.list : "-";
    if (strcmp(list, "-") == 0 && isatty(0))
        return rd_fail(err, RD_ERR_USAGE, "no input: give --logits FILE.npy, FILE.npy ..., or a list on stdin (see --help)");
    return read_list(a, list, err);
}

static void apply_shard(app *a) {
    if (!a->o.shard_n) return;
    if (a->listed) { /* utterances k with k % N == K - 1 */
        a->n_items = a->list_total / a->o.shard_n + (a->list_total % a->o.shard_n > a->o.shard_k - 1);
        return;
    }
    long k = 0;
    for (long i = 0; i < a->n_items; i++) {
        if (i % a->o.shard_n == a->o.shard_k - 1) a->items[k++] = a->items[i];
        else {
            free(a->items[i].id);
        }
    }
    a->n_items = k;
}

/* ---------- --resume ---------- */

static int cmp_str(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

/* Ids are unique and fit one field of a text line: an id with a tab, CR or
 * newline is refused, and so is an id given twice (two list lines, or two
 * files with one stem), naming both; the first such pair in input order. */
typedef struct id_ref {
    const char *id;
    long index;
} id_ref;

static int cmp_id_ref(const void *x, const void *y) {
    const id_ref *p = x, *q = y;
    int c = strcmp(p->id, q->id);
    return c ? c : (p->index > q->index) - (p->index < q->index);
}

static rd_status check_ids(app *a, rd_error *err) {
    if (a->listed) return RD_OK; /* read_list checked them */
    for (long i = 0; i < a->n_items; i++) {
        const item *it = &a->items[i];
        if (strpbrk(it->id, "\t\n\r")) {
            if (it->line) return rd_fail(err, RD_ERR_INPUT, "%s:%ld: the utterance id holds a carriage return",
                                         a->list_name, it->line);
            return rd_fail(err, RD_ERR_INPUT, "%s: the utterance id would hold a tab or a newline; give ids with --list",
                           it->path);
        }
    }
    if (a->n_items < 2) return RD_OK;
    id_ref *r = malloc((size_t)a->n_items * sizeof *r);
    if (!r) return rd_fail(err, RD_ERR_NOMEM, "out of memory checking %ld ids", a->n_items);
    for (long i = 0; i < a->n_items; i++) r[i] = (id_ref){a->items[i].id, i};
    qsort(r, (size_t)a->n_items, sizeof *r, cmp_id_ref);
    long first = -1, second = -1;
    for (long k = 1; k < a->n_items; k++)
        if (strcmp(r[k].id, r[k - 1].id) == 0 && (second < 0 || r[k].index < second))
            first = r[k - 1].index, second = r[k].index;
    free(r);
    if (second < 0) return RD_OK;
    const item *x = &a->items[first], *y = &a->items[second];
    if (y->line)
        return rd_fail(err, RD_ERR_INPUT, "%s:%ld: utterance id '%s' is also on line %ld", a->list_name, y->line, y->id,
                       x->line);
    return rd_fail(err, RD_ERR_INPUT, "%s: utterance id '%s' is also the id of %s", y->path, y->id, x->path);
}

/* A last line without its newline was cut off (a crash): it does not count.
 * When stdout appends to that very file, the file is cut back to its last
 * complete line, so the next line written does not glue onto the cut one. */
static rd_status drop_cut_line(const app *a, size_t keep, long lineno, rd_error *err) {
    struct stat rs, os;
    if (stat(a->o.resume, &rs) == 0 && fstat(1, &os) == 0 && S_ISREG(os.st_mode) && rs.st_dev == os.st_dev &&
        rs.st_ino == os.st_ino) {
        if (ftruncate(1, (off_t)keep) != 0)
            return rd_fail(err, RD_ERR_IO, "--resume: %s:%ld: cannot drop the cut-off last line: %s", a->o.resume,
                           lineno, strerror(errno));
        if (!a->o.quiet)
            fprintf(stderr, PROG ": --resume: %s:%ld: the last line has no newline (cut off?): dropped it\n",
                    a->o.resume, lineno);
        return RD_OK;
    }
    fprintf(stderr, PROG ": --resume: %s:%ld: the last line has no newline (cut off?); its utterance is decoded "
            "again: drop that line before appending to %s (README, 'Resuming')\n", a->o.resume, lineno, a->o.resume);
    return RD_OK;
}

/* The id of one complete earlier output line p[0..len), malloc'd in *id: a
 * JSON line that parses ('{"utt":"id",...}'; *id NULL for a failed
 * utterance of --keep-going, which is decoded again), else a text line
 * 'id<TAB>...'. Returns 0 when the line is neither. */
static int resume_line_id(const char *p, size_t len, char **id, rd_status *st, rd_error *err) {
    int is_error = 0;
    *id = NULL;
    int r = p[0] == '{' ? cli_json_output_line(p, len, id, &is_error) : 0;
    if (r < 0) return *st = rd_fail(err, RD_ERR_NOMEM, "out of memory"), 0;
    if (r > 0) {
        if (is_error) free(*id), *id = NULL;
        return 1;
    }
    const char *tab = memchr(p, '\t', len);
    if (!tab || tab == p) return 0;
    if (!(*id = xstrdup(p, (size_t)(tab - p)))) return *st = rd_fail(err, RD_ERR_NOMEM, "out of memory"), 0;
    return 1;
}

/* Drops the items whose id has a complete line in an earlier output (see
 * resume_line_id and drop_cut_line). A missing file is an empty one. */
static rd_status apply_resume(app *a, rd_error *err) {
    if (!a->o.resume) return RD_OK;
    if (access(a->o.resume, F_OK) != 0) {
        if (!a->o.quiet) fprintf(stderr, PROG ": --resume: %s does not exist yet; decoding everything\n", a->o.resume);
        return RD_OK;
    }
    rd_text t;
    RD_TRY(rd_text_read(a->o.resume, &t, err));
    size_t cap = 1024, n = 0;
    char **ids = malloc(cap * sizeof *ids);
    rd_status st = ids ? RD_OK : rd_fail(err, RD_ERR_NOMEM, "out of memory");
    const char *p = t.data, *end = t.data + t.size;
    long lineno = 0;
    while (st == RD_OK && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        lineno++;
        if (!nl) {
            st = drop_cut_line(a, (size_t)(p - t.data), lineno, err);
            break;
        }
        char *id;
        if (!resume_line_id(p, (size_t)(nl - p), &id, &st, err)) {
            if (st == RD_OK)
                st = rd_fail(err, RD_ERR_INPUT, "--resume: %s:%ld: expected an earlier output line ('id<TAB>text' or "
                             "a JSON line '{\"utt\":...}' that parses)", a->o.resume, lineno);
            break;
        }
        p = nl + 1;
        if (!id) continue;
        if (n == cap) {
            char **ni = realloc(ids, 2 * cap * sizeof *ni);
            if (!ni) { free(id); st = rd_fail(err, RD_ERR_NOMEM, "out of memory"); break; }
            ids = ni;
            cap *= 2;
        }
        ids[n++] = id;
    }
    rd_text_free(&t);
    long kept = 0, skipped = 0;
    if (st == RD_OK && a->listed) { /* counted on the list; list_take skips them */
        qsort(ids, n, sizeof *ids, cmp_str);
        a->done_ids = ids;
        a->n_done_ids = n;
        ids = NULL;
        n = 0;
        st = bl_rewind(&a->list, err);
        bl_entry e;
        int r;
        for (long k = 0; st == RD_OK && (r = bl_next(&a->list, &e, &st, err)) > 0; k++) {
            if (a->o.shard_n && k % a->o.shard_n != a->o.shard_k - 1) continue;
            char *id = xstrdup(e.id, e.id_len);
            if (!id) { st = rd_fail(err, RD_ERR_NOMEM, "out of memory"); break; }
            if (list_keeps(a, k, id)) kept++;
            else skipped++;
            free(id);
        }
        a->n_items = kept;
        if (st == RD_OK && !a->o.quiet)
            fprintf(stderr, PROG ": --resume: %ld utterance%s already in %s, %ld to decode\n", skipped,
                    skipped == 1 ? "" : "s", a->o.resume, kept);
    } else if (st == RD_OK) {
        qsort(ids, n, sizeof *ids, cmp_str);
        for (long i = 0; i < a->n_items; i++) {
            const char *key = a->items[i].id;
            if (n && bsearch(&key, ids, n, sizeof *ids, cmp_str)) {
                free(a->items[i].id);
                    skipped++;
            } else {
                a->items[kept++] = a->items[i];
            }
        }
        a->n_items = kept;
        if (!a->o.quiet)
            fprintf(stderr, PROG ": --resume: %ld utterance%s already in %s, %ld to decode\n", skipped,
                    skipped == 1 ? "" : "s", a->o.resume, kept);
    }
    for (size_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
    return st;
}

/* ---------- models ---------- */

/* --lm-state: one saved state of this very model (fingerprint checked). */
static rd_status load_start_state(app *a, rd_error *err) {
    if (!a->lm || !lm_rwkv(a->lm))
        return rd_fail(err, RD_ERR_USAGE, "--lm-state %s: needs an RWKV --lm (an ARPA model has no recurrent state)",
                       a->o.lm_state);
    sf_model_info info;
    RD_TRY(sf_info_of_model(lm_rwkv(a->lm), &info, err));
    RD_TRY(sf_load(a->o.lm_state, &info, &a->start, err));
    if (a->start.n != 1)
        return rd_fail(err, RD_ERR_INPUT, "%s: holds %d states; --lm-state takes a file of one", a->o.lm_state,
                       a->start.n);
    a->o.dec.lm_start.state = a->start.data;
    a->o.dec.lm_start.pending = a->start.pending[0];
    return RD_OK;
}

static int file_exists(const char *p) { return access(p, R_OK) == 0; }

/* The tokens file for an emissions file: --tokens, X.tokens.txt, or
 * tokens.txt in the same folder. */
int tokens_for(const app *a, const char *npy, char *out, size_t n) {
    if (a->o.tokens) {
        snprintf(out, n, "%s", a->o.tokens);
        return 1;
    }
    size_t len = strlen(npy);
    if (len > 4 && strcmp(npy + len - 4, ".npy") == 0) len -= 4;
    snprintf(out, n, "%.*s.tokens.txt", (int)len, npy);
    if (file_exists(out)) return 1;
    const char *slash = strrchr(npy, '/');
    if (slash) snprintf(out, n, "%.*s/tokens.txt", (int)(slash - npy), npy);
    else snprintf(out, n, "tokens.txt");
    return file_exists(out);
}

/* Collects graph g's word{units} as lexicon extras. */
static rd_status add_extras(app *a, const boost_graph *g, rd_error *err) {
    int n = boost_pron_count(g);
    if (n == 0) return RD_OK;
    lex_extra *ne = realloc(a->extra, (size_t)(a->n_extra + n) * sizeof *ne);
    if (!ne) return rd_fail(err, RD_ERR_NOMEM, "out of memory");
    a->extra = ne;
    for (int i = 0; i < n; i++, a->n_extra++)
        boost_pron(g, i, &ne[a->n_extra].word, &ne[a->n_extra].units, &ne[a->n_extra].file, &ne[a->n_extra].line);
    return RD_OK;
}

/* --hotwords and the list's hotword files (each with --hotwords): the phrase
 * graphs, and their word{units} as lexicon extras (for every utterance). */
static rd_status load_hotwords(app *a, rd_error *err) {
    if (a->o.hotwords) {
        RD_TRY(boost_load(a->o.hotwords, a->o.hotword_weight, &a->boost, err));
        RD_TRY(add_extras(a, a->boost, err));
    }
    for (int i = 0; i < a->n_hot; i++) {
        const char *paths[2] = {a->o.hotwords, a->hot[i].path};
        int first = a->o.hotwords ? 0 : 1;
        RD_TRY(boost_load_files(paths + first, 2 - first, a->o.hotword_weight, &a->hot[i].g, err));
        RD_TRY(add_extras(a, a->hot[i].g, err));
    }
    return RD_OK;
}

static rd_status load_ctx(app *a, const char *tokens, int *idx, rd_error *err) {
    for (int i = 0; i < a->n_ctx; i++)
        if (strcmp(a->ctx[i].tokens_path, tokens) == 0) {
            *idx = i;
            return RD_OK;
        }
    model_ctx *nc = realloc(a->ctx, (size_t)(a->n_ctx + 1) * sizeof *nc);
    if (!nc) return rd_fail(err, RD_ERR_NOMEM, "out of memory");
    a->ctx = nc;
    model_ctx *c = &a->ctx[a->n_ctx];
    memset(c, 0, sizeof *c);
    c->tokens_path = xstrdup(tokens, strlen(tokens));
    if (!c->tokens_path) return rd_fail(err, RD_ERR_NOMEM, "out of memory");
    a->n_ctx++;
    const char *delim = a->o.delim_given ? a->o.delim : NULL;
    RD_TRY(lex_units_load_ex(tokens, a->o.blank, delim, a->o.unit_type, &c->units, err));
    if (a->o.lexicon) {
        lex_load_stats stats;
        memset(&stats, 0, sizeof stats);
        RD_TRY(lex_lexicon_load_ex(a->o.lexicon, c->units, a->extra, a->n_extra, &c->lex, &stats, err));
        long total = stats.entries + stats.skipped;
        if (stats.skipped && stats.entries * 10 < total) /* under 10% usable: the wrong lexicon */
            return rd_fail(err, RD_ERR_INPUT, "%s: only %ld of %ld pronunciations use units in %s (first unusable: "
                           "line %ld, unit '%s'): is it the lexicon for this model?", a->o.lexicon, stats.entries,
                           total, tokens, stats.first_skipped_line, stats.first_skipped_unit);
        if (stats.skipped)
            fprintf(stderr, PROG ": warning: %s: %ld of %ld pronunciations skipped: they use units that %s lacks "
                    "(first: line %ld, unit '%s')\n", a->o.lexicon, stats.skipped, total, tokens,
                    stats.first_skipped_line, stats.first_skipped_unit);
        if (lex_word_count(c->lex) == 0)
            return rd_fail(err, RD_ERR_INPUT, "%s: no usable word", a->o.lexicon);
        if (a->o.unk_given && isfinite(a->o.dec.unk_score) && lex_units_delimiter(c->units) < 0)
            return rd_fail(err, RD_ERR_USAGE, "--unk-score does nothing with the units of %s: without a word "
                           "delimiter no word can be spelled outside the lexicon", tokens);
        if (a->boost && !isfinite(a->o.dec.unk_score)) RD_TRY(dec_boost_check(c->lex, a->boost, err));
        for (int i = 0; i < a->n_hot && !isfinite(a->o.dec.unk_score); i++)
            RD_TRY(dec_boost_check(c->lex, a->hot[i].g, err));
    }
    *idx = a->n_ctx - 1;
    return RD_OK;
}

static rd_status resolve_contexts(app *a, rd_error *err) {
    char tok[4096];
    if (a->listed) { /* list_take finds each utterance's among these */
        RD_TRY(bl_rewind(&a->list, err));
        bl_entry e;
        rd_status st = RD_OK;
        int r, idx;
        for (long k = 0; st == RD_OK && (r = bl_next(&a->list, &e, &st, err)) > 0; k++) {
            if (a->o.shard_n && k % a->o.shard_n != a->o.shard_k - 1) continue;
            char *id = xstrdup(e.id, e.id_len), *path = xstrdup(e.path, e.path_len);
            if (!id || !path) st = rd_fail(err, RD_ERR_NOMEM, "out of memory");
            else if (list_keeps(a, k, id) && tokens_for(a, path, tok, sizeof tok)) st = load_ctx(a, tok, &idx, err);
            free(id);
            free(path);
        }
        return st;
    }
    for (long i = 0; i < a->n_items; i++) {
        if (!tokens_for(a, a->items[i].path, tok, sizeof tok)) {
            /* reported when the utterance is decoded (keep-going friendly) */
            a->items[i].ctx = -1;
            continue;
        }
        RD_TRY(load_ctx(a, tok, &a->items[i].ctx, err));
    }
    return RD_OK;
}

/* Share of the lexicon's words an ARPA LM knows, as is (case 0), upper-cased
 * (1) or lower-cased (2, ASCII letters); -1 on error. */
static double lm_known_share(lm_cache *c, const lex_lexicon *lex, int fold) {
    int n = lex_word_count(lex);
    long known = 0;
    char buf[256];
    for (int w = 0; w < n; w++) {
        const char *t = lex_word(lex, w);
        size_t len = strlen(t);
        if (fold && len < sizeof buf) {
            for (size_t i = 0; i < len; i++) buf[i] = (char)(fold == 1 ? toupper((unsigned char)t[i]) : tolower((unsigned char)t[i]));
            t = buf;
        }
        int32_t id = lm_word(c, t, len);
        if (id < 0) return -1;
        known += lm_word_known(c, id);
    }
    return n ? (double)known / n : 1.0;
}

/* Warns when most lexicon words are unknown to the ARPA LM (scored as <unk>):
 * usually a case mismatch (LibriSpeech ARPAs are upper case). */
static void warn_lexicon_lm(app *a) {
    if (!a->lm || lm_rwkv(a->lm) || !a->n_ctx || !a->ctx[0].lex) return;
    lm_cache *c = NULL;
    rd_error e;
    if (lm_cache_create(a->lm, 1, &c, &e) != RD_OK) return;
    double share = lm_known_share(c, a->ctx[0].lex, 0);
    if (share >= 0 && share < 0.5) {
        double up = lm_known_share(c, a->ctx[0].lex, 1), low = lm_known_share(c, a->ctx[0].lex, 2);
        const char *hint = up > 2 * share && up >= low ? "upper-cased" : low > 2 * share ? "lower-cased" : NULL;
        fprintf(stderr, PROG ": warning: only %.1f%% of the %d words of %s are in the vocabulary of %s (the others "
                "are scored as <unk>)", 100 * share, lex_word_count(a->ctx[0].lex), a->o.lexicon, a->o.lm);
        if (hint) fprintf(stderr, "; %.1f%% are when %s: a case mismatch?", 100 * (up >= low ? up : low), hint);
        fputc('\n', stderr);
    }
    lm_cache_free(c);
}

/* ---------- main ---------- */

/* An environment switch: set, not empty and not "0". */
static int env_on(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

/* Every --lm (their mix when several) and the --rescore model. The
 * environment's measurement switches (RWKV_NO_AVX512, RD_STATE_INT8_SIM)
 * are read here: the library reads no environment. */
static rd_status load_lms(app *a, rd_error *err) {
    lm_load_options lo = {.threads = a->o.lm_threads > 0 ? a->o.lm_threads : 1,
                          .max_memory = (size_t)a->o.max_memory_mb << 20,
                          .vocab = a->o.vocab,
                          .state_dtype = a->o.state_dtype,
                          .lookahead_tokens = a->o.lookahead_tokens,
                          .no_avx512 = getenv("RWKV_NO_AVX512") != NULL,
                          .state_int8_sim = env_on("RD_STATE_INT8_SIM")};
    for (int i = 0; i < a->o.n_lm; i++) RD_TRY(lm_load(a->o.lm_paths[i], &lo, &a->lm_parts[i], err));
    if (a->o.n_lm == 1) a->lm = a->lm_parts[0];
    if (a->o.n_lm > 1) RD_TRY(lm_mix(a->lm_parts, a->o.lm_weights, a->o.n_lm, &a->lm, err));
    if (a->o.rescore) RD_TRY(lm_load(a->o.rescore, &lo, &a->rescore, err));
    return RD_OK;
}

/* 1 when some loaded model is an RWKV one (its options then apply). */
static int any_rwkv(const app *a) {
    for (int i = 0; i < a->o.n_lm; i++)
        if (lm_rwkv(a->lm_parts[i])) return 1;
    return a->rescore && lm_rwkv(a->rescore);
}

static void free_app(app *a) {
    for (long i = 0; a->items && i < a->n_items; i++) free(a->items[i].id);
    free(a->items);
    for (long i = a->base; a->ring && i < a->next; i++) {
        slot *s = slot_of(a, i);
        free(s->r.out);
        free(s->r.msg);
        if (s->owned) free(s->it.id);
    }
    free(a->ring);
    if (a->has_pending && a->listed) free(a->pending.id);
    for (size_t i = 0; i < a->n_done_ids; i++) free(a->done_ids[i]);
    free(a->done_ids);
    free(a->fatal_msg);
    if (a->listed) bl_close(&a->list);
    boost_free(a->boost);
    free(a->extra);
    for (int i = 0; i < a->n_hot; i++) {
        boost_free(a->hot[i].g);
        free(a->hot[i].path);
    }
    free(a->hot);
    for (int i = 0; i < a->n_ctx; i++) {
        lex_lexicon_free(a->ctx[i].lex);
        lex_units_free(a->ctx[i].units);
        free(a->ctx[i].tokens_path);
    }
    free(a->ctx);
    rd_npy_free(&a->batch3d);
    if (a->start.block) sf_free(&a->start);
    if (a->lm != a->lm_parts[0]) lm_free(a->lm);
    for (int i = 0; i < MAX_LMS; i++) lm_free(a->lm_parts[i]);
    lm_free(a->rescore);
}

static int fail(app *a, const rd_error *err) {
    fprintf(stderr, PROG ": %s\n", err->msg);
    free_app(a);
    return rd_exit_code(err->status);
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_DFL);  /* "| head" ends us quietly */
    app a;
    memset(&a, 0, sizeof a);
    int first;
    if (!parse_options(argc, argv, &a.o, &first)) return 2;
    int dev = resolve_device(&a.o);
    if (dev) return dev;
    rd_error err;
    rd_error_clear(&err);
    if (a.o.stream) {
        long cap = 0;
        char stem[512];
        cli_stem(a.o.logits, stem, sizeof stem);
        if (add_item(&a, &cap, stem, strlen(stem), a.o.logits, strlen(a.o.logits), ROW_FILE, -1, &err) != RD_OK)
            return fail(&a, &err);
    } else if (collect_inputs(&a, argc, argv, first, &err) != RD_OK || check_ids(&a, &err) != RD_OK) {
        return fail(&a, &err);
    }
    apply_shard(&a);
    if (apply_resume(&a, &err) != RD_OK) return fail(&a, &err);
    if (a.o.lm || a.o.rescore) {
        if (load_lms(&a, &err) != RD_OK) return fail(&a, &err);
        if (!check_needs(&a.o, a.o.given, any_rwkv(&a))) {
            free_app(&a);
            return 2;
        }
    }
    if (a.o.lm_state && load_start_state(&a, &err) != RD_OK) return fail(&a, &err);
    if (load_hotwords(&a, &err) != RD_OK) return fail(&a, &err);
    if (resolve_contexts(&a, &err) != RD_OK) return fail(&a, &err);
    warn_lexicon_lm(&a);
    if (a.o.stream) {
        rd_status st = run_stream(&a, &err);
        if (st != RD_OK) return fail(&a, &err);
        free_app(&a);
        return cli_finish_stdout(PROG, 0, a.out_errno);
    }
    int code;
    if (run_batch(&a, &code, &err) != RD_OK) return fail(&a, &err);
    free_app(&a);
    return a.out_errno ? code : cli_finish_stdout(PROG, code, 0);
}
