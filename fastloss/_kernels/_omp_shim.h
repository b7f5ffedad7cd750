/* OpenMP entry points that also compile without OpenMP (the build then runs serially). */
#ifndef FASTLOSS_OMP_SHIM_H
#define FASTLOSS_OMP_SHIM_H
#ifdef _OPENMP
#include <omp.h>
#define FASTLOSS_OPENMP 1
static int fastloss_omp_max_threads(void) { return omp_get_max_threads(); }
static int fastloss_omp_num_procs(void) { return omp_get_num_procs(); }
#else
#define FASTLOSS_OPENMP 0
static int fastloss_omp_max_threads(void) { return 1; }
static int fastloss_omp_num_procs(void) { return 1; }
#endif
#endif
