// The loader behind grain's CUDA trampolines; see grain_stub.h.
#include "grain_stub.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct library {
	pthread_once_t once;
	void *handle;
	const char *env;          // override variable
	const char *names[4];     // tried in order when env is unset
	int missing_lib;          // error code when the library is missing
	int missing_sym;          // ... and when a symbol is
	char why[1024];
	char path[512];
};

static struct library libs[2] = {
	{PTHREAD_ONCE_INIT, NULL, "GRAIN_LIBCUDA", {"libcuda.so.1", NULL},
	 CUDA_ERROR_NOT_INITIALIZED, CUDA_ERROR_NOT_FOUND, "", ""},
	{PTHREAD_ONCE_INIT, NULL, "GRAIN_CUBLAS",
	 {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", NULL},
	 CUBLAS_STATUS_NOT_INITIALIZED, CUBLAS_STATUS_NOT_SUPPORTED, "", ""},
};

static void append(struct library *l, const char *msg) {
	size_t n = strlen(l->why);
	snprintf(l->why + n, sizeof l->why - n, "%s%s", n ? "; " : "", msg);
}

static void load(struct library *l) {
	const char *over = getenv(l->env);
	if (over && *over) {
		l->handle = dlopen(over, RTLD_NOW | RTLD_LOCAL);
		if (l->handle) {
			snprintf(l->path, sizeof l->path, "%s", over);
		} else {
			const char *e = dlerror();
			char msg[768];
			snprintf(msg, sizeof msg, "%s=%s: %s", l->env, over, e ? e : "cannot load");
			append(l, msg);
		}
		return;
	}
	for (int i = 0; l->names[i]; i++) {
		l->handle = dlopen(l->names[i], RTLD_NOW | RTLD_LOCAL);
		if (l->handle) {
			snprintf(l->path, sizeof l->path, "%s", l->names[i]);
			l->why[0] = 0;
			return;
		}
		const char *e = dlerror();
		append(l, e ? e : l->names[i]);
	}
}

static void load_cuda(void) { load(&libs[0]); }
static void load_cublas(void) { load(&libs[1]); }

void *grain_resolve(int lib, void **slot, const char *name, int *code) {
	void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (f)
		return f;
	struct library *l = &libs[lib];
	pthread_once(&l->once, lib == 0 ? load_cuda : load_cublas);
	if (!l->handle) {
		*code = l->missing_lib;
		return NULL;
	}
	f = dlsym(l->handle, name);
	if (!f) {
		*code = l->missing_sym;
		return NULL;
	}
	__atomic_store_n(slot, f, __ATOMIC_RELEASE);
	return f;
}

const char *grain_load_error(int lib) { return libs[lib].why; }
const char *grain_load_path(int lib) { return libs[lib].path; }

static int init_status = -1;

int grain_cuda_init_status(void) { return __atomic_load_n(&init_status, __ATOMIC_ACQUIRE); }

CUresult cuInit(unsigned int flags) {
	static void *slot;
	int code;
	void *f = grain_resolve(0, &slot, "cuInit", &code);
	int st = f ? (int)((__typeof__(&cuInit))f)(flags) : code;
	__atomic_store_n(&init_status, st, __ATOMIC_RELEASE);
	return CUDA_SUCCESS;
}
