/*
 * layerpar_peak.h — micro-loops that measure what one core can do, so the
 * kernel benchmark can state its results as a fraction of the core's peak.
 *
 *  - lp_peak_fma_f64/f32: LP_PEAK_FMA_CHAINS independent chains of 256-bit
 *    fused multiply-adds. With more chains than (FMA latency × FMA ports) in
 *    flight, the loop is bound by FMA throughput alone: its rate is the
 *    AVX2 peak in FLOP/s. flops = iters · LP_PEAK_FMA_CHAINS · lanes · 2
 *    (lanes = 4 doubles or 8 floats).
 *  - lp_peak_fma512_f64/f32: the same with 512-bit FMAs (lanes = 8 doubles
 *    or 16 floats): the AVX-512 peak. Call only when lp_cpu_supports_avx512()
 *    is 1. (Cores with one 512-bit FMA port, or 512-bit FMAs split in two
 *    256-bit halves as on AMD Zen 4, show here as ≈ the AVX2 peak.)
 *  - lp_peak_add_chain: one chain of LP_PEAK_ADD_CHAIN dependent integer adds
 *    per iteration. An x86 integer add has a latency of exactly one cycle on
 *    every core of the last fifteen years, and the loop counter runs in
 *    parallel, so iters · LP_PEAK_ADD_CHAIN / seconds is the core clock
 *    while the loop runs (turbo included), unlike `cpu MHz` of a VM's
 *    /proc/cpuinfo, which reports the host's nominal clock.
 *
 * The loops do no I/O and allocate nothing; they return a value only so the
 * compiler cannot remove them. Call the FMA loops only when
 * lp_cpu_supports_avx2_fma() is 1. lp_peak_add_chain returns -1 without
 * running on a non-x86-64 build.
 */
#ifndef LAYERPAR_PEAK_H
#define LAYERPAR_PEAK_H

#ifdef __cplusplus
extern "C" {
#endif

/** Independent accumulator chains in the FMA loops. */
#define LP_PEAK_FMA_CHAINS 12
/** Dependent integer adds per iteration of lp_peak_add_chain. */
#define LP_PEAK_ADD_CHAIN 64

double lp_peak_fma_f64(long iters);
float lp_peak_fma_f32(long iters);
double lp_peak_fma512_f64(long iters);
float lp_peak_fma512_f32(long iters);
long lp_peak_add_chain(long iters);

#ifdef __cplusplus
}
#endif
#endif /* LAYERPAR_PEAK_H */
