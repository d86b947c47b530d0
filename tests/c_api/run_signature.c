/* run_signature: run a SavedModel through the TensorFlow C API, the way
 * TensorFlow Serving loads it (a classic Session from the tag-set's MetaGraph,
 * fed and fetched by graph tensor name), with no Python in the process.
 *
 * Usage:
 *   run_signature EXPORT_DIR TAGS [OP_LIBRARY...] -- [TENSOR=IN_FILE...] -- TENSOR=OUT_FILE...
 *
 *   TAGS        comma-separated tag set, e.g. "serve".
 *   OP_LIBRARY  a custom-op .so (e.g. TF Text's _wordpiece_tokenizer.so), loaded
 *               with TF_LoadLibrary before the model is imported.
 *   TENSOR      a graph tensor "op_name:index" from the SignatureDef, e.g.
 *               serving_default_text:0 (signature names are NOT accepted here).
 *
 * Tensor file format, for inputs and outputs alike (native byte order, which
 * is little-endian on every platform TensorFlow wheels exist for):
 *   char    magic[4] = "TFT1"
 *   int32   dtype     TF_DataType (= DataType proto enum: 1 float, 3 int32, 7 string, 9 int64, ...)
 *   int32   rank
 *   int64   dims[rank]
 *   payload fixed-size dtypes: the elements in row-major order, raw;
 *           TF_STRING: per element, a uint64 byte length then that many bytes
 *           (binary-safe: NUL bytes, newlines and invalid UTF-8 pass through).
 *
 * Exit status: 0 on success; 1 on any TensorFlow or I/O error, with the
 * message on stderr; 2 on a usage error.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensorflow/c/c_api.h"
#include "tensorflow/c/tf_tstring.h"

static const char kMagic[4] = {'T', 'F', 'T', '1'};

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("run_signature: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static void check(TF_Status *status, const char *what, const char *arg) {
  if (TF_GetCode(status) != TF_OK)
    die("%s %s: %s", what, arg, TF_Message(status));
}

/* ---- reading input tensors ---------------------------------------------- */

typedef struct {
  const char *path;
  const char *pos;
  size_t left;
} Reader;

/* The next n bytes of the file, or a clean error if it is too short. */
static const char *take(Reader *r, size_t n) {
  if (n > r->left) die("%s: truncated tensor file", r->path);
  const char *p = r->pos;
  r->pos += n;
  r->left -= n;
  return p;
}

static char *slurp(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) die("cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  char *buf = malloc(n > 0 ? (size_t)n : 1);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) die("cannot read %s", path);
  fclose(f);
  *size = (size_t)n;
  return buf;
}

static TF_Tensor *read_tensor(const char *path) {
  size_t size;
  char *buf = slurp(path, &size);
  Reader r = {path, buf, size};
  int32_t dtype, rank;
  if (memcmp(take(&r, 4), kMagic, 4) != 0) die("%s: not a TFT1 tensor file", path);
  memcpy(&dtype, take(&r, 4), 4);
  memcpy(&rank, take(&r, 4), 4);
  if (rank < 0 || rank > 32) die("%s: bad rank %d", path, rank);
  int64_t dims[32];
  int64_t count = 1;
  for (int i = 0; i < rank; i++) {
    memcpy(&dims[i], take(&r, 8), 8);
    if (dims[i] < 0) die("%s: negative dimension", path);
    count *= dims[i];
  }

  TF_Tensor *t;
  if (dtype == TF_STRING) {
    /* TF 2.x string tensors hold TF_TString structs (not the TF 1.x offset
     * table): each element must be initialised, then given its bytes. */
    t = TF_AllocateTensor(TF_STRING, dims, rank, (size_t)count * sizeof(TF_TString));
    TF_TString *s = TF_TensorData(t);
    for (int64_t i = 0; i < count; i++) {
      uint64_t len;
      memcpy(&len, take(&r, 8), 8);
      TF_StringInit(&s[i]);
      TF_StringCopy(&s[i], take(&r, len), len);
    }
  } else {
    size_t elem = TF_DataTypeSize((TF_DataType)dtype);
    if (elem == 0) die("%s: unsupported input dtype %d", path, dtype);
    size_t nbytes = (size_t)count * elem;
    t = TF_AllocateTensor((TF_DataType)dtype, dims, rank, nbytes);
    memcpy(TF_TensorData(t), take(&r, nbytes), nbytes);
  }
  if (r.left != 0) die("%s: %zu trailing bytes", path, r.left);
  free(buf);
  return t;
}

/* TF_DeleteTensor frees the buffer but not the heap storage of long
 * TF_TStrings we created, so release those first. */
static void delete_input(TF_Tensor *t) {
  if (TF_TensorType(t) == TF_STRING) {
    TF_TString *s = TF_TensorData(t);
    for (int64_t i = 0; i < TF_TensorElementCount(t); i++) TF_StringDealloc(&s[i]);
  }
  TF_DeleteTensor(t);
}

/* ---- writing output tensors --------------------------------------------- */

static void write_tensor(const char *path, const TF_Tensor *t) {
  FILE *f = fopen(path, "wb");
  if (!f) die("cannot create %s", path);
  int32_t dtype = TF_TensorType(t), rank = TF_NumDims(t);
  fwrite(kMagic, 1, 4, f);
  fwrite(&dtype, 4, 1, f);
  fwrite(&rank, 4, 1, f);
  for (int i = 0; i < rank; i++) {
    int64_t d = TF_Dim(t, i);
    fwrite(&d, 8, 1, f);
  }
  if (dtype == TF_STRING) {
    const TF_TString *s = TF_TensorData(t);
    for (int64_t i = 0; i < TF_TensorElementCount(t); i++) {
      uint64_t len = TF_StringGetSize(&s[i]);
      fwrite(&len, 8, 1, f);
      fwrite(TF_StringGetDataPointer(&s[i]), 1, len, f);
    }
  } else {
    if (TF_DataTypeSize((TF_DataType)dtype) == 0)
      die("%s: unsupported output dtype %d", path, dtype);
    fwrite(TF_TensorData(t), 1, TF_TensorByteSize(t), f);
  }
  if (ferror(f) || fclose(f) != 0) die("cannot write %s", path);
}

/* ---- graph tensors -------------------------------------------------------- */

/* "op_name:index" (or "op_name", meaning index 0) -> TF_Output. */
static TF_Output find_tensor(TF_Graph *graph, const char *name) {
  char op_name[1024];
  const char *colon = strrchr(name, ':');
  size_t n = colon ? (size_t)(colon - name) : strlen(name);
  if (n >= sizeof op_name) die("tensor name too long: %s", name);
  memcpy(op_name, name, n);
  op_name[n] = '\0';
  TF_Output out = {TF_GraphOperationByName(graph, op_name), colon ? atoi(colon + 1) : 0};
  if (!out.oper) die("no operation %s in the graph (tensor %s)", op_name, name);
  if (out.index < 0 || out.index >= TF_OperationNumOutputs(out.oper))
    die("operation %s has no output %d", op_name, out.index);
  return out;
}

/* Splits "TENSOR=FILE" in place; tensor names never contain '='. */
static char *split_spec(char *spec) {
  char *eq = strchr(spec, '=');
  if (!eq) {
    fprintf(stderr, "run_signature: expected TENSOR=FILE, got %s\n", spec);
    exit(2);
  }
  *eq = '\0';
  return eq + 1;
}

static void usage(void) {
  fputs("usage: run_signature EXPORT_DIR TAGS [OP_LIBRARY...] -- [TENSOR=IN_FILE...] -- "
        "TENSOR=OUT_FILE...\n", stderr);
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 3) usage();
  /* argv: [1] dir, [2] tags, [3, sep1) libraries, (sep1, sep2) inputs, (sep2, argc) outputs. */
  int sep1 = 3;
  while (sep1 < argc && strcmp(argv[sep1], "--") != 0) sep1++;
  int sep2 = sep1 + 1;
  while (sep2 < argc && strcmp(argv[sep2], "--") != 0) sep2++;
  if (sep2 >= argc - 1) usage(); /* need both separators and at least one output */
  int nin = sep2 - sep1 - 1, nout = argc - sep2 - 1;

  TF_Status *status = TF_NewStatus();

  /* Custom ops first: the graph import below fails on any unregistered op.
   * Loaded here rather than with LD_PRELOAD because they must come after
   * libtensorflow_framework (preloading them first aborts on duplicate
   * protobuf descriptors). */
  for (int i = 3; i < sep1; i++) {
    TF_Library *lib = TF_LoadLibrary(argv[i], status);
    check(status, "loading op library", argv[i]);
    TF_DeleteLibraryHandle(lib); /* frees the handle only; the ops stay registered */
  }

  char tag_buf[1024];
  const char *tags[32];
  int ntags = 0;
  snprintf(tag_buf, sizeof tag_buf, "%s", argv[2]);
  for (char *p = tag_buf; p && ntags < 32;) {
    tags[ntags++] = p;
    p = strchr(p, ',');
    if (p) *p++ = '\0';
  }

  /* Restores variables, loads assets (e.g. vocab files) and runs the init op
   * that fills lookup tables, as the SavedModel loader in TF Serving does. */
  TF_SessionOptions *options = TF_NewSessionOptions();
  TF_Graph *graph = TF_NewGraph();
  TF_Session *session =
      TF_LoadSessionFromSavedModel(options, NULL, argv[1], tags, ntags, graph, NULL, status);
  check(status, "loading SavedModel", argv[1]);

  TF_Output *inputs = calloc(nin + 1, sizeof *inputs);
  TF_Tensor **in_values = calloc(nin + 1, sizeof *in_values);
  for (int i = 0; i < nin; i++) {
    char *spec = argv[sep1 + 1 + i];
    char *file = split_spec(spec);
    inputs[i] = find_tensor(graph, spec);
    in_values[i] = read_tensor(file);
  }
  TF_Output *outputs = calloc(nout, sizeof *outputs);
  TF_Tensor **out_values = calloc(nout, sizeof *out_values);
  char **out_files = calloc(nout, sizeof *out_files);
  for (int i = 0; i < nout; i++) {
    char *spec = argv[sep2 + 1 + i];
    out_files[i] = split_spec(spec);
    outputs[i] = find_tensor(graph, spec);
  }

  TF_SessionRun(session, NULL, inputs, in_values, nin, outputs, out_values, nout, NULL, 0, NULL,
                status);
  check(status, "running", argv[1]);

  for (int i = 0; i < nout; i++) {
    write_tensor(out_files[i], out_values[i]);
    TF_DeleteTensor(out_values[i]); /* TF-owned tensors free their own strings */
  }
  for (int i = 0; i < nin; i++) delete_input(in_values[i]);
  TF_CloseSession(session, status);
  TF_DeleteSession(session, status);
  TF_DeleteGraph(graph);
  TF_DeleteSessionOptions(options);
  TF_DeleteStatus(status);
  free(inputs), free(in_values), free(outputs), free(out_values), free(out_files);
  return 0;
}
