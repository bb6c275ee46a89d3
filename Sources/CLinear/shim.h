/* LIBLINEAR (Debian's liblinear-dev): the solver behind scikit-learn's LinearSVC. */
#ifndef CLINEAR_SHIM_H
#define CLINEAR_SHIM_H
#include <linear.h>
#endif
