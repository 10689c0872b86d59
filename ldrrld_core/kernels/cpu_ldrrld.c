/* The fused LDRRLD forward for a CPU, one pass of work per sample (see cpu_ldrrld.py); at the end,
 * TeKAP's rows and DIST's correlations, two baselines built the same way.
 *
 * Compiled twice at first use: with REAL=float for float32 arithmetic and with REAL=double
 * for float64. Rows are independent; groups of them are shared among OpenMP threads (run()).
 * Formulas (docs/method.md), per sample, with u = z_s / T, v = z_t / T:
 *
 *   top d      the d largest rank logits, largest first; equal logits: lower class first.
 *   top-d KL   KL(softmax(v_top) || softmax(u_top)), gradient softmax(u_top) - softmax(v_top).
 *   pair KL    for ranks i < j: the two-class softmaxes are a_i / (a_i + a_j) with
 *              a = exp(u_top - max u_top) (b likewise for v), so
 *              KL_ij = sum_{k in i,j} p_k delta_k + log((a_i + a_j) / (b_i + b_j)),
 *              delta_k = (v_k - max v_top) - (u_k - max u_top), gradient on the gap
 *              sigmoid(g_s) - sigmoid(g_t) = a_i / (a_i + a_j) - b_i / (b_i + b_j).
 *   rest KL    KL(softmax(v_rest) || softmax(u_rest)) over the classes outside the top d,
 *              and q - p there (0 on the top d).
 *
 * The local terms (pairs, top-d) of ROWS samples run side by side, one per vector lane. Row sums
 * accumulate in double over LANES independent partial sums (a fixed order, so results do not
 * depend on the thread count), which the compiler vectorises without reassociating anything.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef REAL
#define REAL float
#endif
typedef REAL real;

#define LANES 32 /* independent partial sums or maxima of a row: several vectors, no latency chain */
#define ROWS 16  /* samples whose local terms run side by side, one per vector lane */
#define MAX_DEPTH 64 /* deeper selections come from torch.topk (see cpu_ldrrld.py) */
#define MAX_PAIRS (MAX_DEPTH * (MAX_DEPTH - 1) / 2)

/* exp(x) for x <= 0 or -inf, vectorisable. In float: range reduction to r in [-ln2/2, ln2/2]
 * and a degree-7 polynomial (the Cephes coefficients, within about 1 ulp); 0 below the normal
 * range, where the softmax terms it feeds are below float32 resolution anyway. */
static inline real exp_nonpositive(real x) {
#if REAL_IS_DOUBLE
    return exp(x);
#else
    const float low = -87.33654f;
    const float clamped = x < low ? low : x;
    const float shifter = 12582912.0f;                              /* 1.5 * 2^23 */
    const float shifted = clamped * 1.44269504088896341f + shifter; /* shifter + n, n = round(x / ln 2) */
    const float n = shifted - shifter;
    float r = clamped - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    /* 2^n from the integer in shifted's low mantissa bits; unsigned, so a NaN's bits are defined too */
    uint32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    bits = (bits - 0x4B400000u + 127u) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x < low ? 0.0f : p * scale; /* NaN: p is NaN */
#endif
}

/* log(x) for positive normal x, vectorisable. In float: x = m 2^e with m in [sqrt(1/2), sqrt(2)),
 * log(m) from a degree-9 polynomial in m - 1 (the Cephes coefficients, within about 1 ulp). */
static inline real log_positive(real x) {
#if REAL_IS_DOUBLE
    return log(x);
#else
    int32_t bits;
    memcpy(&bits, &x, sizeof bits);
    int32_t exponent = ((bits >> 23) & 0xff) - 127;
    int32_t mantissa_bits = (bits & 0x007fffff) | 0x3f800000; /* m in [1, 2) */
    float m;
    memcpy(&m, &mantissa_bits, sizeof m);
    const int high = m > 1.41421356f;
    m = high ? 0.5f * m : m;
    const float e = (float)(exponent + high);
    const float f = m - 1.0f, z = f * f;
    float y = 7.0376836292e-2f;
    y = y * f - 1.1514610310e-1f;
    y = y * f + 1.1676998740e-1f;
    y = y * f - 1.2420140846e-1f;
    y = y * f + 1.4249322787e-1f;
    y = y * f - 1.6668057665e-1f;
    y = y * f + 2.0000714765e-1f;
    y = y * f - 2.4999993993e-1f;
    y = y * f + 3.3333331174e-1f;
    y = y * f * z - 2.12194440e-4f * e - 0.5f * z;
    return f + y + 0.693359375f * e;
#endif
}

/* Pair sums below this leave the ratio form (its log needs a normal ratio) for the gap form. */
#if REAL_IS_DOUBLE
#define TINY 1e-300
#else
#define TINY 1e-30f
#endif

/* ---- top-d selection ------------------------------------------------------------------- */

/* Offer class k to the sorted (value, top) list of `*filled` <= depth entries. NaN counts as
 * -inf, so a row with d finite logits never selects a NaN. */
static inline void offer(real candidate, int64_t k, int depth, int *filled, real *value, int64_t *top) {
    if (*filled == depth && !(candidate > value[depth - 1])) return; /* ties keep the earlier class; NaN */
    if (candidate != candidate) candidate = -INFINITY;                 /* a NaN while the list fills */
    int at = *filled < depth ? (*filled)++ : depth - 1;
    while (at > 0 && value[at - 1] < candidate) {
        value[at] = value[at - 1];
        top[at] = top[at - 1];
        at--;
    }
    value[at] = candidate;
    top[at] = k;
}

/* Offer every class of x in order: the plain search. Not inlined: inside select_row's loops it
 * ran a third slower (measured, gcc 12). */
__attribute__((noinline)) static void scan_row(const real *x, int64_t classes, int depth, int64_t *top) {
    real value[MAX_DEPTH];
    int filled = 0;
    for (int64_t k = 0; k < classes; k++) offer(x[k], k, depth, &filled, value, top);
}

/* Two stages over SLICES interleaved blocks: block j holds the classes j, j + n, j + 2n, ...
 * (n = C / slices), so the block maxima are an elementwise max of contiguous slices. The d
 * largest block maxima give a bar that the d-th largest logit reaches (d blocks hold a logit at
 * least that large), so only blocks whose maximum reaches the bar can hold a top-d class. Their
 * classes are offered slice by slice, block by block: in increasing class order, which keeps the
 * tie rule. `maxima` holds C / MIN_SLICES reals; `blocks` as many int64. */
#define MIN_SLICES 4

static int slices_for(int64_t classes, int depth) {
    for (int slices = 16; slices >= MIN_SLICES; slices /= 2)
        if (classes / slices >= 4 * depth) return slices;
    return 0; /* too few classes: the plain search */
}

static void select_row(const real *x, int64_t classes, int depth, int64_t *top, real *maxima, int64_t *blocks) {
    const int slices = slices_for(classes, depth);
    if (slices == 0) {
        scan_row(x, classes, depth, top);
        return;
    }
    const int64_t n = classes / slices; /* >= 4 d */
    for (int64_t j = 0; j < n; j++) maxima[j] = -INFINITY; /* skips NaN below */
    for (int l = 0; l < slices; l++)
        for (int64_t j = 0; j < n; j++) maxima[j] = x[l * n + j] > maxima[j] ? x[l * n + j] : maxima[j];
    real value[MAX_DEPTH] = {0};
    int filled = 0;
    for (int64_t j = 0; j < n; j++) offer(maxima[j], j, depth, &filled, value, top);
    const real bar = value[depth - 1];
    int64_t kept = 0;
    for (int64_t j = 0; j < n; j++)
        if (maxima[j] >= bar) blocks[kept++] = j;
    filled = 0; /* no logit below the bar is a top-d one; NaN rows may still need some to fill the list */
    for (int l = 0; l < slices; l++)
        for (int64_t b = 0; b < kept; b++) {
            const int64_t k = l * n + blocks[b];
            if (x[k] >= bar || filled < depth) offer(x[k], k, depth, &filled, value, top);
        }
    for (int64_t k = slices * n; k < classes; k++) offer(x[k], k, depth, &filled, value, top);
}

/* ---- one sample's terms ---------------------------------------------------------------- */

typedef struct {
    const real *student, *teacher;
    int64_t student_stride, teacher_stride, classes;
    int depth, pairs;
    real temperature;
    const real *weights;   /* (P,), pairs in row-major order (0, 1), (0, 2), ..., (1, 2), ... */
    int64_t *top;          /* (B, d): read, or written when select_by is not NULL */
    const real *select_by; /* rank logits to select from, or NULL */
    int64_t select_stride;
    real *local, *rntk, *pair_kl, *topd_kl, *top_grad; /* (B,), (B,), (B, P), (B,), (B, d) */
    real *rest_grad;                                   /* (B, C), or NULL when d == C */
} Job;

static void binary_from_gaps(double gs, double gt, double *kl, double *grad) {
    /* The two-class KL on logit gaps by softplus and sigmoid, for gaps exp cannot span. */
    double es = exp(-fabs(gs)), et = exp(-fabs(gt));
    double ss = gs >= 0 ? 1 / (1 + es) : es / (1 + es), st = gt >= 0 ? 1 / (1 + et) : et / (1 + et);
    double value = fmax(gs, 0) + log1p(es) - fmax(gt, 0) - log1p(et) - st * (gs - gt);
    *kl = value < 0 ? 0 : value;
    *grad = ss - st;
}

/* The local terms of rows row0 .. row0 + count - 1 (count <= ROWS), one row per vector lane: every
 * loop below runs over the ROWS lanes, so the compiler vectorises across samples (the d top logits
 * and the pairs of one sample are too few to fill vectors). Lanes past count repeat the last row.
 * `pair_scratch` holds 2 P ROWS reals: each pair's KL and gap gradient in every lane. */
static void local_terms(const Job *job, int64_t row0, int count, real *pair_scratch) {
    const int depth = job->depth, pairs = job->pairs;
    real u[MAX_DEPTH][ROWS], v[MAX_DEPTH][ROWS], a[MAX_DEPTH][ROWS], b[MAX_DEPTH][ROWS], delta[MAX_DEPTH][ROWS];
    real grad[MAX_DEPTH][ROWS], max_u[ROWS], max_v[ROWS], sum_a[ROWS], sum_b[ROWS], topd[ROWS], weighted[ROWS];
    const real inverse_t = 1 / job->temperature;
    real(*kl)[ROWS] = (real(*)[ROWS])pair_scratch, (*gap_grad)[ROWS] = (real(*)[ROWS])(pair_scratch + pairs * ROWS);
    for (int k = 0; k < depth; k++)
        for (int l = 0; l < ROWS; l++) {
            const int64_t row = row0 + (l < count ? l : count - 1), cls = job->top[row * depth + k];
            u[k][l] = job->student[row * job->student_stride + cls] * inverse_t;
            v[k][l] = job->teacher[row * job->teacher_stride + cls] * inverse_t;
        }
    for (int l = 0; l < ROWS; l++) max_u[l] = max_v[l] = -INFINITY, sum_a[l] = sum_b[l] = topd[l] = weighted[l] = 0;
    for (int k = 0; k < depth; k++)
        for (int l = 0; l < ROWS; l++) {
            max_u[l] = u[k][l] > max_u[l] ? u[k][l] : max_u[l];
            max_v[l] = v[k][l] > max_v[l] ? v[k][l] : max_v[l];
        }
    for (int k = 0; k < depth; k++)
        for (int l = 0; l < ROWS; l++) {
            a[k][l] = exp_nonpositive(u[k][l] - max_u[l]);
            b[k][l] = exp_nonpositive(v[k][l] - max_v[l]);
            delta[k][l] = (v[k][l] - max_v[l]) - (u[k][l] - max_u[l]);
            sum_a[l] += a[k][l];
            sum_b[l] += b[k][l];
        }
    /* The top-d set: KL = sum_k p_k delta_k + log(sum a / sum b); gradient q - p. */
    for (int k = 0; k < depth; k++)
        for (int l = 0; l < ROWS; l++) {
            const real p_k = b[k][l] / sum_b[l];
            topd[l] += p_k * delta[k][l];
            grad[k][l] = a[k][l] / sum_a[l] - p_k;
        }
    for (int l = 0; l < ROWS; l++) {
        topd[l] += log_positive(sum_a[l] / sum_b[l]); /* both sums lie in [1, d] */
        topd[l] = topd[l] < 0 ? 0 : topd[l];           /* NaN stays NaN */
    }
    /* The pairs (i, j), i < j, in row-major order. */
    for (int i = 0, p = 0; i < depth; i++)
        for (int j = i + 1; j < depth; j++, p++)
            for (int l = 0; l < ROWS; l++) {
                const real pair_a = a[i][l] + a[j][l], pair_b = b[i][l] + b[j][l];
                const real p_i = b[i][l] / pair_b, p_j = b[j][l] / pair_b;
                const real value = p_i * delta[i][l] + p_j * delta[j][l] + log_positive(pair_a / pair_b);
                kl[p][l] = value < 0 ? 0 : value;
                gap_grad[p][l] = a[i][l] / pair_a - p_i;
            }
    /* A pair whose sums exp could not span (a tempered gap beyond ~87 in float) is redone from its gaps. */
    for (int i = 0, p = 0; i < depth; i++)
        for (int j = i + 1; j < depth; j++, p++)
            for (int l = 0; l < count; l++)
                if (!(a[i][l] + a[j][l] > TINY && b[i][l] + b[j][l] > TINY)) {
                    double exact_kl, exact_grad;
                    binary_from_gaps(u[i][l] - u[j][l], v[i][l] - v[j][l], &exact_kl, &exact_grad);
                    kl[p][l] = (real)exact_kl;
                    gap_grad[p][l] = (real)exact_grad;
                }
    for (int i = 0, p = 0; i < depth; i++)
        for (int j = i + 1; j < depth; j++, p++) {
            const real weight = job->weights[p];
            for (int l = 0; l < ROWS; l++) {
                weighted[l] += weight * kl[p][l];
                grad[i][l] += weight * gap_grad[p][l];
                grad[j][l] -= weight * gap_grad[p][l];
            }
        }
    const real norm = (real)(1.0 / (pairs + 1));
    for (int l = 0; l < count; l++) {
        const int64_t row = row0 + l;
        job->local[row] = (weighted[l] + topd[l]) * norm;
        job->topd_kl[row] = topd[l];
        for (int p = 0; p < pairs; p++) job->pair_kl[row * pairs + p] = kl[p][l];
        for (int k = 0; k < depth; k++) job->top_grad[row * depth + k] = grad[k][l] * norm;
    }
}

static double row_max(const real *x, int64_t n) {
    real lane[LANES];
    for (int l = 0; l < LANES; l++) lane[l] = -INFINITY;
    int64_t k = 0;
    for (; k + LANES <= n; k += LANES)
        for (int l = 0; l < LANES; l++) lane[l] = x[k + l] > lane[l] ? x[k + l] : lane[l];
    real best = -INFINITY;
    for (int l = 0; l < LANES; l++) best = lane[l] > best ? lane[l] : best;
    for (; k < n; k++) best = x[k] > best ? x[k] : best;
    return best;
}

/* x <- exp(x - shift) in place. */
static void exp_shifted(real *x, int64_t n, real shift) {
    for (int64_t k = 0; k < n; k++) x[k] = exp_nonpositive(x[k] - shift);
}

/* sum_k x_k y_k (y = NULL: sum_k x_k) in double, over LANES partial sums. Kept apart from the
 * loops that write x: fused with them, the compiler does not vectorise either. */
static double dot(const real *x, const real *y, int64_t n) {
    double lane[LANES] = {0}, sum = 0;
    int64_t k = 0;
    if (y == NULL) {
        for (; k + LANES <= n; k += LANES)
            for (int l = 0; l < LANES; l++) lane[l] += x[k + l];
        for (; k < n; k++) sum += x[k];
    } else {
        for (; k + LANES <= n; k += LANES)
            for (int l = 0; l < LANES; l++) lane[l] += (double)(x[k + l] * y[k + l]);
        for (; k < n; k++) sum += (double)(x[k] * y[k]);
    }
    for (int l = 0; l < LANES; l++) sum += lane[l];
    return sum;
}

/* The remaining classes of one row; `scratch` holds 2 C reals. */
static void rest_terms(const Job *job, int64_t row, const int64_t *top, real *scratch) {
    const real *s = job->student + row * job->student_stride, *t = job->teacher + row * job->teacher_stride;
    const int64_t n = job->classes;
    const real inverse_t = 1 / job->temperature; /* a multiply: a vector divide costs ten times more */
    /* q: exp(u - max u), then q - p (the output row); p: exp(v - max v), then p; gap: v - u. */
    real *q = job->rest_grad + row * n, *p = scratch, *gap = scratch + n;
    for (int64_t k = 0; k < n; k++) {
        q[k] = s[k] * inverse_t;
        p[k] = t[k] * inverse_t;
        gap[k] = p[k] - q[k];
    }
    for (int k = 0; k < job->depth; k++) q[top[k]] = p[top[k]] = -INFINITY;
    const real max_u = (real)row_max(q, n), max_v = (real)row_max(p, n);
    exp_shifted(q, n, max_u);
    exp_shifted(p, n, max_v);
    const double sum_u = dot(q, NULL, n), sum_v = dot(p, NULL, n);
    const real inv_u = (real)(1 / sum_u), inv_v = (real)(1 / sum_v);
    for (int64_t k = 0; k < n; k++) {
        p[k] *= inv_v;
        q[k] = q[k] * inv_u - p[k];
    }
    /* KL = sum_k p_k (v_k - u_k) - L_t + L_s with L = max + log(sum); p is 0 on the top d. */
    const double kl = dot(p, gap, n) - ((double)max_v + log(sum_v)) + ((double)max_u + log(sum_u));
    job->rntk[row] = (real)(kl < 0 ? 0 : kl);
}

/* The rows row0 .. row0 + count - 1 (count <= ROWS): search and remaining term row by row, then
 * the local terms side by side. `scratch` holds reals_for(job) reals. */
/* Where the search's block list starts in `scratch`: after C / MIN_SLICES + 1 block maxima, at
 * an even offset so that the int64 are aligned. */
static size_t block_list_offset(const Job *job) {
    return ((size_t)job->classes / MIN_SLICES + 2) & ~(size_t)1;
}

/* The remaining term's two rows, or the search's block maxima and block list (an int64 takes
 * at most two reals). */
static size_t row_reals(const Job *job) {
    return job->rest_grad != NULL ? 2 * (size_t)job->classes : 3 * block_list_offset(job);
}

/* Those, then the pairs of ROWS samples. */
static size_t reals_for(const Job *job) {
    return row_reals(job) + (job->pair_kl != NULL ? 2 * (size_t)job->pairs * ROWS : 0);
}

static void run_rows(const Job *job, int64_t row0, int count, real *scratch) {
    for (int64_t row = row0; row < row0 + count; row++) {
        int64_t *top = job->top + row * job->depth;
        if (job->select_by != NULL) {
            int64_t *blocks = (int64_t *)(scratch + block_list_offset(job));
            select_row(job->select_by + row * job->select_stride, job->classes, job->depth, top, scratch, blocks);
        }
        if (job->rest_grad != NULL) rest_terms(job, row, top, scratch);
    }
    if (job->pair_kl != NULL) local_terms(job, row0, count, scratch + row_reals(job));
}

/* Groups of ROWS rows shared among `threads` threads of OpenMP. Built with -fopenmp next to torch,
 * this is torch's own thread pool (the dynamic loader finds its libgomp.so.1 already loaded), so
 * the kernel never competes with torch's threads; without OpenMP it runs on one thread. Every row
 * gets the same arithmetic however the rows are shared. Returns 0, or 1 when memory ran out. */
static int run(const Job *job, int64_t rows, int threads) {
    const int64_t groups = (rows + ROWS - 1) / ROWS;
    int status = 0;
    if (threads < 1 || groups < 2) threads = 1;
#pragma omp parallel num_threads(threads) reduction(| : status)
    {
        real *scratch = malloc(reals_for(job) * sizeof(real));
        if (scratch == NULL) status = 1;
#pragma omp for schedule(static)
        for (int64_t group = 0; group < groups; group++) {
            if (scratch == NULL) continue;
            const int64_t row0 = group * ROWS, left = rows - row0;
            run_rows(job, row0, left < ROWS ? (int)left : ROWS, scratch);
        }
        free(scratch);
    }
    return status;
}

/* ---- entry points (called through ctypes) ------------------------------------------------ */

int ldrrld_top_classes(const real *logits, int64_t stride, int64_t rows, int64_t classes, int depth, int64_t *top,
                       int threads) {
    if (depth < 1 || depth > MAX_DEPTH || depth > classes) return 2;
    Job job = {0};
    job.classes = classes;
    job.depth = depth;
    job.top = top;
    job.select_by = logits;
    job.select_stride = stride;
    return run(&job, rows, threads);
}

int ldrrld_rows(const real *student, int64_t student_stride, const real *teacher, int64_t teacher_stride, int64_t rows,
                int64_t classes, const int64_t *top, int depth, const int64_t *first, const int64_t *second,
                const real *weights, int pairs, real temperature, real *local, real *rntk, real *pair_kl,
                real *topd_kl, real *top_grad, real *rest_grad, int threads) {
    if (depth < 2 || depth > MAX_DEPTH || depth > classes || pairs != depth * (depth - 1) / 2) return 2;
    for (int i = 0, p = 0; i < depth; i++)
        for (int j = i + 1; j < depth; j++, p++)
            if (first[p] != i || second[p] != j) return 2; /* not the row-major pairs local_terms expects */
    Job job = {student, teacher, student_stride, teacher_stride, classes, depth, pairs, temperature, weights,
               (int64_t *)top, NULL, 0, local, rntk, pair_kl, topd_kl, top_grad, rest_grad};
    return run(&job, rows, threads);
}

/* ---- TeKAP: KD from the teacher and K perturbed copies of it (docs/method.md) ------------- */

/* One row. With u = z_s / T, v_0 = z_t / T, v_k = ((1 - s) z_t + s eps_k) / T and weights w_0 = 1,
 * w_k = noise_weight: returns sum_k w_k KL_k, KL_k = sum_c p_kc (v_kc - u_c) - L_k + L_u (each
 * clipped at 0, round-off), and writes scale ((sum_k w_k) q - sum_k w_k p_k) to grad.
 * `scratch` holds 4 C reals: u, v (then v - u), p, and the sum of the w_k p_k. */
static double tekap_row(const real *s, const real *t, const real *noise, int64_t noise_stride, int perturbed,
                        int64_t n, real temperature, real noise_weight, real noise_scale, real scale, real *grad,
                        real *scratch) {
    const real inverse_t = 1 / temperature;
    real *u = scratch, *v = scratch + n, *p = scratch + 2 * n, *teachers = scratch + 3 * n, *q = grad;
    for (int64_t c = 0; c < n; c++) u[c] = s[c] * inverse_t;
    const real max_u = (real)row_max(u, n);
    for (int64_t c = 0; c < n; c++) q[c] = exp_nonpositive(u[c] - max_u);
    const double sum_u = dot(q, NULL, n), lse_u = (double)max_u + log(sum_u);
    const real keep = (1 - noise_scale) * inverse_t, mix = noise_scale * inverse_t;
    double total = 0, weight_sum = 0;
    for (int k = 0; k <= perturbed; k++) {
        if (k == 0) {
            for (int64_t c = 0; c < n; c++) v[c] = t[c] * inverse_t;
        } else {
            const real *e = noise + (k - 1) * noise_stride;
            for (int64_t c = 0; c < n; c++) v[c] = t[c] * keep + e[c] * mix;
        }
        const real max_v = (real)row_max(v, n);
        for (int64_t c = 0; c < n; c++) p[c] = exp_nonpositive(v[c] - max_v);
        for (int64_t c = 0; c < n; c++) v[c] -= u[c];
        const double sum_v = dot(p, NULL, n);
        const double kl = dot(p, v, n) / sum_v - ((double)max_v + log(sum_v)) + lse_u;
        const double w = k == 0 ? 1 : (double)noise_weight;
        total += w * (kl < 0 ? 0 : kl);
        weight_sum += w;
        const real share = (real)(w / sum_v); /* w_k p_k = share exp(v_k - max v_k) */
        if (k == 0)
            for (int64_t c = 0; c < n; c++) teachers[c] = p[c] * share;
        else
            for (int64_t c = 0; c < n; c++) teachers[c] += p[c] * share;
    }
    const real student_share = (real)((double)scale * weight_sum / sum_u);
    for (int64_t c = 0; c < n; c++) q[c] = q[c] * student_share - teachers[c] * scale;
    return total;
}

/* TeKAP's rows: kl[row] = sum_k w_k KL_k and grad's rows as tekap_row writes them, rows shared
 * among `threads` OpenMP threads. noise holds `perturbed` draws of (rows, classes), `noise_stride`
 * apart, rows `noise_row_stride` apart. Returns 0, or 1 when memory ran out. */
int tekap_rows(const real *student, int64_t student_stride, const real *teacher, int64_t teacher_stride, int64_t rows,
               int64_t classes, const real *noise, int64_t noise_stride, int64_t noise_row_stride, int perturbed,
               real temperature, real noise_weight, real noise_scale, real scale, real *kl,
               real *grad, int threads) {
    if (perturbed < 0) return 2;
    int status = 0;
    if (threads < 1 || rows < 2) threads = 1;
#pragma omp parallel num_threads(threads) reduction(| : status)
    {
        real *scratch = malloc(4 * (size_t)classes * sizeof(real));
        if (scratch == NULL) status = 1;
#pragma omp for schedule(static)
        for (int64_t row = 0; row < rows; row++) {
            if (scratch == NULL) continue;
            kl[row] = (real)tekap_row(student + row * student_stride, teacher + row * teacher_stride,
                                      noise + row * noise_row_stride, noise_stride, perturbed, classes, temperature,
                                      noise_weight, noise_scale, scale, grad + row * classes, scratch);
        }
        free(scratch);
    }
    return status;
}

/* ---- DIST: Pearson correlations of the softmaxes per sample and per class (docs/method.md) -- */

/* rho = <a, b> / (|a| |b| + eps) of centred a, b from their sums, and (-beta, alpha), the factors
 * of a and b in d rho / d a = alpha b - beta a: alpha = 1 / D, beta = rho |b| / (|a| D), beta 0
 * where a is 0. */
static void pearson(double dot_ab, double square_a, double square_b, double eps, real *rho, real *neg_beta,
                    real *alpha) {
    const double norm_a = sqrt(square_a), norm_b = sqrt(square_b), inverse = 1 / (norm_a * norm_b + eps);
    const double r = dot_ab * inverse;
    *rho = (real)r;
    *alpha = (real)inverse;
    *neg_beta = norm_a > 0 ? (real)(-r * inverse * norm_b / norm_a) : 0;
}

/* softmax(x / T) of one row into y. */
static void softmax_row(const real *x, int64_t n, real inverse_t, real *y) {
    for (int64_t c = 0; c < n; c++) y[c] = x[c] * inverse_t;
    const real top = (real)row_max(y, n);
    exp_shifted(y, n, top);
    const real inverse_sum = (real)(1 / dot(y, NULL, n));
    for (int64_t c = 0; c < n; c++) y[c] *= inverse_sum;
}

/* <a, b>, |a|^2 and |b|^2 of a = x - x0, b = y - y0 (x0, y0 per element, or one value when the
 * step is 0) in double over LANES partial sums: centred first, so a near-uniform row keeps its digits. */
static void centred_sums(const real *x, const real *y, const real *x0, const real *y0, int64_t step, int64_t n,
                         double *sums) {
    double ab[LANES] = {0}, aa[LANES] = {0}, bb[LANES] = {0};
    int64_t k = 0;
    for (; k + LANES <= n; k += LANES)
        for (int l = 0; l < LANES; l++) {
            const double a = (double)x[k + l] - x0[(k + l) * step], b = (double)y[k + l] - y0[(k + l) * step];
            ab[l] += a * b;
            aa[l] += a * a;
            bb[l] += b * b;
        }
    double total_ab = 0, total_aa = 0, total_bb = 0;
    for (; k < n; k++) {
        const double a = (double)x[k] - x0[k * step], b = (double)y[k] - y0[k * step];
        total_ab += a * b;
        total_aa += a * a;
        total_bb += b * b;
    }
    for (int l = 0; l < LANES; l++) total_ab += ab[l], total_aa += aa[l], total_bb += bb[l];
    sums[0] = total_ab, sums[1] = total_aa, sums[2] = total_bb;
}

#define COLUMN_BLOCK 256 /* classes whose column sums one thread accumulates side by side */

/* DIST's forward. y: (2, B, C) out, the student's then the teacher's softmax at T; means: (2, C)
 * out, their means over the batch; rho: (B + C) out, the correlations of every sample's row (centred
 * on 1 / C, where a softmax's mean lies) then of every class's column (centred on its mean);
 * coefficients: (2, B + C) out, (-beta, alpha) of each. Each column's sums run over the rows in
 * order, so results do not depend on the thread count. Returns 0. */
int dist_forward(const real *student, int64_t student_stride, const real *teacher, int64_t teacher_stride,
                 int64_t rows, int64_t classes, real temperature, double eps, real *y, real *means, real *rho,
                 real *coefficients, int threads) {
    const int64_t n = classes, count = rows + classes, plane = rows * classes;
    const int64_t blocks = (classes + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
    const real inverse_t = 1 / temperature, centre = (real)(1.0 / (double)classes);
    real *y_s = y, *y_t = y + plane, *mean_s = means, *mean_t = means + classes;
    if (threads < 1) threads = 1;
#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(static)
        for (int64_t b = 0; b < rows; b++) {
            real *ys = y_s + b * n, *yt = y_t + b * n;
            double sums[3];
            softmax_row(student + b * student_stride, n, inverse_t, ys);
            softmax_row(teacher + b * teacher_stride, n, inverse_t, yt);
            centred_sums(ys, yt, &centre, &centre, 0, n, sums);
            pearson(sums[0], sums[1], sums[2], eps, rho + b, coefficients + b, coefficients + count + b);
        }
#pragma omp for schedule(static)
        for (int64_t block = 0; block < blocks; block++) {
            const int64_t c0 = block * COLUMN_BLOCK, width = classes - c0 < COLUMN_BLOCK ? classes - c0 : COLUMN_BLOCK;
            double sum_s[COLUMN_BLOCK] = {0}, sum_t[COLUMN_BLOCK] = {0};
            for (int64_t b = 0; b < rows; b++)
                for (int64_t c = 0; c < width; c++) {
                    sum_s[c] += y_s[b * n + c0 + c];
                    sum_t[c] += y_t[b * n + c0 + c];
                }
            double ab[COLUMN_BLOCK] = {0}, aa[COLUMN_BLOCK] = {0}, bb[COLUMN_BLOCK] = {0};
            for (int64_t c = 0; c < width; c++) {
                mean_s[c0 + c] = (real)(sum_s[c] / (double)rows);
                mean_t[c0 + c] = (real)(sum_t[c] / (double)rows);
            }
            for (int64_t b = 0; b < rows; b++)
                for (int64_t c = 0; c < width; c++) {
                    const double a = (double)y_s[b * n + c0 + c] - mean_s[c0 + c];
                    const double d = (double)y_t[b * n + c0 + c] - mean_t[c0 + c];
                    ab[c] += a * d;
                    aa[c] += a * a;
                    bb[c] += d * d;
                }
            for (int64_t c = 0; c < width; c++) {
                const int64_t k = rows + c0 + c;
                pearson(ab[c], aa[c], bb[c], eps, rho + k, coefficients + k, coefficients + count + k);
            }
        }
    }
    return 0;
}

/* DIST's backward: with f = scale (dL/d rho over T), G = dL/dy_s is
 *   G_bc = f_b (-beta_b y_s + alpha_b y_t) + f_c (-beta_c (y_s - m_s) + alpha_c (y_t - m_t)),
 * and grad_bc = y_s (G_bc - <G_b, y_s>), the gradient in the student's logits. Returns 0, or 1
 * when memory ran out. */
int dist_backward(const real *y, const real *means, const real *coefficients, const real *scale, int64_t rows,
                  int64_t classes, real *grad, int threads) {
    const int64_t n = classes, count = rows + classes, plane = rows * classes;
    const real *y_s = y, *y_t = y + plane, *neg_beta = coefficients, *alpha = coefficients + count;
    /* Per class: F = f_c (-beta_c, alpha_c), applied to the centred columns (not expanded: where a
     * column is constant, alpha_c is 1 / eps and multiplies an exact 0). */
    real *column = malloc(2 * (size_t)classes * sizeof(real));
    if (column == NULL) return 1;
    real *f_s = column, *f_t = column + n;
    const real *mean_s = means, *mean_t = means + n;
    for (int64_t c = 0; c < n; c++) {
        f_s[c] = scale[rows + c] * neg_beta[rows + c];
        f_t[c] = scale[rows + c] * alpha[rows + c];
    }
    if (threads < 1) threads = 1;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t b = 0; b < rows; b++) {
        const real *ys = y_s + b * n, *yt = y_t + b * n;
        const real r_s = scale[b] * neg_beta[b], r_t = scale[b] * alpha[b];
        real *g = grad + b * n;
        for (int64_t c = 0; c < n; c++)
            g[c] = r_s * ys[c] + r_t * yt[c] + f_s[c] * (ys[c] - mean_s[c]) + f_t[c] * (yt[c] - mean_t[c]);
        const real along = (real)dot(g, ys, n);
        for (int64_t c = 0; c < n; c++) g[c] = ys[c] * (g[c] - along);
    }
    free(column);
    return 0;
}
