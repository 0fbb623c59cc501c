// CMPI: the only place Open MPI's C interface is imported (by module Comm).
// Open MPI's handles and constants (MPI_COMM_WORLD, MPI_DOUBLE, MPI_SUM, ...)
// are macros that expand to addresses of globals, which Swift cannot import;
// each one used by Comm gets a static inline accessor here.
#ifndef LAYERPAR_CMPI_SHIM_H
#define LAYERPAR_CMPI_SHIM_H
#include <mpi.h>

static inline MPI_Comm CMPI_COMM_WORLD(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm CMPI_COMM_SELF(void) { return MPI_COMM_SELF; }
static inline MPI_Comm CMPI_COMM_NULL(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype CMPI_DOUBLE(void) { return MPI_DOUBLE; }
static inline MPI_Datatype CMPI_FLOAT(void) { return MPI_FLOAT; }
static inline MPI_Datatype CMPI_INT(void) { return MPI_INT; }
static inline MPI_Datatype CMPI_LONG(void) { return MPI_LONG; }
static inline MPI_Datatype CMPI_BYTE(void) { return MPI_BYTE; }
static inline MPI_Datatype CMPI_CHAR(void) { return MPI_CHAR; }
static inline MPI_Op CMPI_SUM(void) { return MPI_SUM; }
static inline MPI_Op CMPI_MAX(void) { return MPI_MAX; }
static inline MPI_Op CMPI_MIN(void) { return MPI_MIN; }
static inline MPI_Request CMPI_REQUEST_NULL(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *CMPI_STATUS_IGNORE(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Status *CMPI_STATUSES_IGNORE(void) { return MPI_STATUSES_IGNORE; }
static inline int CMPI_ANY_SOURCE(void) { return MPI_ANY_SOURCE; }
static inline int CMPI_ANY_TAG(void) { return MPI_ANY_TAG; }
static inline int CMPI_SUCCESS(void) { return MPI_SUCCESS; }
static inline int CMPI_THREAD_SINGLE(void) { return MPI_THREAD_SINGLE; }
static inline int CMPI_THREAD_FUNNELED(void) { return MPI_THREAD_FUNNELED; }
static inline MPI_Errhandler CMPI_ERRORS_RETURN(void) { return MPI_ERRORS_RETURN; }
static inline int CMPI_MAX_ERROR_STRING(void) { return MPI_MAX_ERROR_STRING; }
static inline int CMPI_MAX_PROCESSOR_NAME(void) { return MPI_MAX_PROCESSOR_NAME; }
static inline MPI_Errhandler CMPI_ERRORS_ARE_FATAL(void) { return MPI_ERRORS_ARE_FATAL; }
static inline int CMPI_ERR_IN_STATUS(void) { return MPI_ERR_IN_STATUS; }
static inline int CMPI_ERR_PENDING(void) { return MPI_ERR_PENDING; }
static inline int CMPI_THREAD_SERIALIZED(void) { return MPI_THREAD_SERIALIZED; }
static inline void *CMPI_IN_PLACE(void) { return MPI_IN_PLACE; }

/* The largest message tag this MPI accepts (MPI_TAG_UB attribute of
 * MPI_COMM_WORLD, at least 32767 by the standard); -1 if it cannot be read.
 * The attribute comes back as a pointer to an int, which Swift would see as
 * an untyped void pointer, so it is read here. */
static inline int CMPI_tag_upper_bound(MPI_Comm comm) {
    int *value = 0;
    int flag = 0;
    if (MPI_Comm_get_attr(comm, MPI_TAG_UB, &value, &flag) != MPI_SUCCESS || !flag || !value) return -1;
    return *value;
}
#endif
