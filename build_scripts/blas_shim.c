/* faiss's BLAS and LAPACK calls, answered by numpy's OpenBLAS.

The faiss-cpu wheel carries its own OpenBLAS (38 MB, 32-bit integers: LP64) and numpy's wheel
another (25 MB, 64-bit integers: ILP64, its symbols prefixed `scipy_` and suffixed `64_`).
The binary keeps numpy's: this library takes the soname of faiss's, exports the 14 routines
faiss imports (`nm -D --undefined-only libfaiss.so`) and forwards each to numpy's copy,
widening the integers on the way in and narrowing the ones LAPACK writes on the way out.
Character arguments are passed with their hidden Fortran lengths (1), which numpy's
gfortran-built LAPACK expects. Built by build_scripts/neurocache.spec on Linux. */

#include <stdint.h>
#include <stdlib.h>

typedef int32_t fint;  /* faiss's FINTEGER */
typedef int64_t lint;  /* numpy's OpenBLAS */
typedef size_t flen;   /* a character argument's hidden length */

#define W(x) lint x##_ = (lint)(*(x))

void scipy_sgemm_64_(const char *, const char *, const lint *, const lint *, const lint *,
                     const float *, const float *, const lint *, const float *, const lint *,
                     const float *, float *, const lint *, flen, flen);
void scipy_dgemm_64_(const char *, const char *, const lint *, const lint *, const lint *,
                     const double *, const double *, const lint *, const double *,
                     const lint *, const double *, double *, const lint *, flen, flen);
void scipy_sgemv_64_(const char *, const lint *, const lint *, const float *, const float *,
                     const lint *, const float *, const lint *, const float *, float *,
                     const lint *, flen);
void scipy_ssyrk_64_(const char *, const char *, const lint *, const lint *, const float *,
                     const float *, const lint *, const float *, float *, const lint *, flen,
                     flen);
void scipy_sgeqrf_64_(const lint *, const lint *, float *, const lint *, float *, float *,
                      const lint *, lint *);
void scipy_sorgqr_64_(const lint *, const lint *, const lint *, float *, const lint *,
                      const float *, float *, const lint *, lint *);
void scipy_sgesvd_64_(const char *, const char *, const lint *, const lint *, float *,
                      const lint *, float *, float *, const lint *, float *, const lint *,
                      float *, const lint *, lint *, flen, flen);
void scipy_dgesvd_64_(const char *, const char *, const lint *, const lint *, double *,
                      const lint *, double *, double *, const lint *, double *, const lint *,
                      double *, const lint *, lint *, flen, flen);
void scipy_sgetrf_64_(const lint *, const lint *, float *, const lint *, lint *, lint *);
void scipy_dgetrf_64_(const lint *, const lint *, double *, const lint *, lint *, lint *);
void scipy_sgetri_64_(const lint *, float *, const lint *, const lint *, float *, const lint *,
                      lint *);
void scipy_dgetri_64_(const lint *, double *, const lint *, const lint *, double *,
                      const lint *, lint *);
void scipy_dsyev_64_(const char *, const char *, const lint *, double *, const lint *,
                     double *, double *, const lint *, lint *, flen, flen);
void scipy_sgelsd_64_(const lint *, const lint *, const lint *, float *, const lint *,
                      float *, const lint *, float *, const float *, lint *, float *,
                      const lint *, lint *, lint *);

int sgemm_(const char *ta, const char *tb, const fint *m, const fint *n, const fint *k,
           const float *alpha, const float *a, const fint *lda, const float *b,
           const fint *ldb, const float *beta, float *c, const fint *ldc) {
    W(m); W(n); W(k); W(lda); W(ldb); W(ldc);
    scipy_sgemm_64_(ta, tb, &m_, &n_, &k_, alpha, a, &lda_, b, &ldb_, beta, c, &ldc_, 1, 1);
    return 0;
}

int dgemm_(const char *ta, const char *tb, const fint *m, const fint *n, const fint *k,
           const double *alpha, const double *a, const fint *lda, const double *b,
           const fint *ldb, const double *beta, double *c, const fint *ldc) {
    W(m); W(n); W(k); W(lda); W(ldb); W(ldc);
    scipy_dgemm_64_(ta, tb, &m_, &n_, &k_, alpha, a, &lda_, b, &ldb_, beta, c, &ldc_, 1, 1);
    return 0;
}

int sgemv_(const char *t, const fint *m, const fint *n, const float *alpha, const float *a,
           const fint *lda, const float *x, const fint *incx, const float *beta, float *y,
           const fint *incy) {
    W(m); W(n); W(lda); W(incx); W(incy);
    scipy_sgemv_64_(t, &m_, &n_, alpha, a, &lda_, x, &incx_, beta, y, &incy_, 1);
    return 0;
}

int ssyrk_(const char *uplo, const char *t, const fint *n, const fint *k, const float *alpha,
           const float *a, const fint *lda, const float *beta, float *c, const fint *ldc) {
    W(n); W(k); W(lda); W(ldc);
    scipy_ssyrk_64_(uplo, t, &n_, &k_, alpha, a, &lda_, beta, c, &ldc_, 1, 1);
    return 0;
}

int sgeqrf_(const fint *m, const fint *n, float *a, const fint *lda, float *tau, float *work,
            const fint *lwork, fint *info) {
    W(m); W(n); W(lda); W(lwork); lint info_ = 0;
    scipy_sgeqrf_64_(&m_, &n_, a, &lda_, tau, work, &lwork_, &info_);
    *info = (fint)info_;
    return 0;
}

int sorgqr_(const fint *m, const fint *n, const fint *k, float *a, const fint *lda,
            const float *tau, float *work, const fint *lwork, fint *info) {
    W(m); W(n); W(k); W(lda); W(lwork); lint info_ = 0;
    scipy_sorgqr_64_(&m_, &n_, &k_, a, &lda_, tau, work, &lwork_, &info_);
    *info = (fint)info_;
    return 0;
}

int sgesvd_(const char *ju, const char *jvt, const fint *m, const fint *n, float *a,
            const fint *lda, float *s, float *u, const fint *ldu, float *vt, const fint *ldvt,
            float *work, const fint *lwork, fint *info) {
    W(m); W(n); W(lda); W(ldu); W(ldvt); W(lwork); lint info_ = 0;
    scipy_sgesvd_64_(ju, jvt, &m_, &n_, a, &lda_, s, u, &ldu_, vt, &ldvt_, work, &lwork_,
                     &info_, 1, 1);
    *info = (fint)info_;
    return 0;
}

int dgesvd_(const char *ju, const char *jvt, const fint *m, const fint *n, double *a,
            const fint *lda, double *s, double *u, const fint *ldu, double *vt,
            const fint *ldvt, double *work, const fint *lwork, fint *info) {
    W(m); W(n); W(lda); W(ldu); W(ldvt); W(lwork); lint info_ = 0;
    scipy_dgesvd_64_(ju, jvt, &m_, &n_, a, &lda_, s, u, &ldu_, vt, &ldvt_, work, &lwork_,
                     &info_, 1, 1);
    *info = (fint)info_;
    return 0;
}

/* The pivots: written as 64-bit integers, handed back as 32-bit ones. */
static lint *wide_pivots(fint count) {
    return malloc(sizeof(lint) * (size_t)(count > 0 ? count : 1));
}

int sgetrf_(const fint *m, const fint *n, float *a, const fint *lda, fint *ipiv, fint *info) {
    W(m); W(n); W(lda); lint info_ = 0;
    fint count = *m < *n ? *m : *n;
    lint *pivots = wide_pivots(count);
    if (pivots == NULL) { *info = -1; return 0; }
    scipy_sgetrf_64_(&m_, &n_, a, &lda_, pivots, &info_);
    for (fint i = 0; i < count; i++) ipiv[i] = (fint)pivots[i];
    free(pivots);
    *info = (fint)info_;
    return 0;
}

int dgetrf_(const fint *m, const fint *n, double *a, const fint *lda, fint *ipiv, fint *info) {
    W(m); W(n); W(lda); lint info_ = 0;
    fint count = *m < *n ? *m : *n;
    lint *pivots = wide_pivots(count);
    if (pivots == NULL) { *info = -1; return 0; }
    scipy_dgetrf_64_(&m_, &n_, a, &lda_, pivots, &info_);
    for (fint i = 0; i < count; i++) ipiv[i] = (fint)pivots[i];
    free(pivots);
    *info = (fint)info_;
    return 0;
}

int sgetri_(const fint *n, float *a, const fint *lda, const fint *ipiv, float *work,
            const fint *lwork, fint *info) {
    W(n); W(lda); W(lwork); lint info_ = 0;
    lint *pivots = wide_pivots(*n);
    if (pivots == NULL) { *info = -1; return 0; }
    for (fint i = 0; i < *n; i++) pivots[i] = ipiv[i];
    scipy_sgetri_64_(&n_, a, &lda_, pivots, work, &lwork_, &info_);
    free(pivots);
    *info = (fint)info_;
    return 0;
}

int dgetri_(const fint *n, double *a, const fint *lda, const fint *ipiv, double *work,
            const fint *lwork, fint *info) {
    W(n); W(lda); W(lwork); lint info_ = 0;
    lint *pivots = wide_pivots(*n);
    if (pivots == NULL) { *info = -1; return 0; }
    for (fint i = 0; i < *n; i++) pivots[i] = ipiv[i];
    scipy_dgetri_64_(&n_, a, &lda_, pivots, work, &lwork_, &info_);
    free(pivots);
    *info = (fint)info_;
    return 0;
}

int dsyev_(const char *jobz, const char *uplo, const fint *n, double *a, const fint *lda,
           double *w, double *work, const fint *lwork, fint *info) {
    W(n); W(lda); W(lwork); lint info_ = 0;
    scipy_dsyev_64_(jobz, uplo, &n_, a, &lda_, w, work, &lwork_, &info_, 1, 1);
    *info = (fint)info_;
    return 0;
}

/* sgelsd's integer workspace: numpy's copy needs it 64-bit wide, so it is allocated here at
   the size LAPACK asks for (a workspace query first); a query's answer is passed back. */
int sgelsd_(const fint *m, const fint *n, const fint *nrhs, float *a, const fint *lda,
            float *b, const fint *ldb, float *s, const float *rcond, fint *rank, float *work,
            const fint *lwork, fint *iwork, fint *info) {
    W(m); W(n); W(nrhs); W(lda); W(ldb); W(lwork);
    lint rank_ = 0, info_ = 0, asked = 0, query = -1;
    float size = 0;
    scipy_sgelsd_64_(&m_, &n_, &nrhs_, a, &lda_, b, &ldb_, s, rcond, &rank_, &size, &query,
                     &asked, &info_);
    if (*lwork == -1) {
        work[0] = size;
        iwork[0] = (fint)asked;
        *info = (fint)info_;
        return 0;
    }
    lint *wide = malloc(sizeof(lint) * (size_t)(asked > 0 ? asked : 1));
    if (wide == NULL) { *info = -1; return 0; }
    scipy_sgelsd_64_(&m_, &n_, &nrhs_, a, &lda_, b, &ldb_, s, rcond, &rank_, work, &lwork_,
                     wide, &info_);
    free(wide);
    *rank = (fint)rank_;
    *info = (fint)info_;
    return 0;
}
