import Foundation
import MGRIT

/// `u' = λu`, `u(0) = u₀`, backward Euler with step `h` on the fine grid:
/// `Φ = 1/(1 − λh)`; a step over `k` fine steps on a coarse level is one
/// backward-Euler step of size `k·h` (rediscretisation): `Ψ = 1/(1 − λkh)`.
final class ScalarProblem: MGRITProblem {
    final class State { var value: Double; init(_ v: Double) { value = v } }

    let stepCount: Int
    let lambda: Double
    let h: Double
    let u0: Double
    /// Initial guess at points ≥ 1 (default 0); can be replaced by a test.
    var guess: (Int) -> Double = { _ in 0 }
    /// Fine-level (level 0) step calls, to count work.
    var fineSteps = 0
    /// Coarse steps over `k` fine steps as `Φᵏ` (the exact propagator over the
    /// interval) instead of one backward-Euler step of size `k·h`: then every coarse
    /// level is the exact Schur complement of the level above, and one iteration of
    /// any cycle with any coarsening factors solves the problem (up to rounding).
    var exactCoarse = false

    init(steps: Int, lambda: Double = -1, h: Double = 0.1, u0: Double = 1) {
        stepCount = steps
        self.lambda = lambda
        self.h = h
        self.u0 = u0
    }

    func makeState() -> State { State(0) }
    func initialGuess(at index: Int, into u: State) throws { u.value = index == 0 ? u0 : guess(index) }
    /// `c`: every step of size `kh` adds `kh·c·sin(u)` (a nonlinear problem; 0: linear).
    var nonlinearity = 0.0
    func step(from u: State, into v: State, start: Int, stop: Int, level: Int) throws {
        if level == 0 { fineSteps += 1 }
        v.value = exactCoarse && level > 0
            ? u.value * pow(1 / (1 - lambda * h), Double(stop - start))
            : u.value / (1 - lambda * h * Double(stop - start))
        if nonlinearity != 0 { v.value += h * Double(stop - start) * nonlinearity * sin(u.value) }
    }

    // Tangents (Delta correction): a scalar derivative.
    var supportsDeltaCorrection: Bool { true }
    func makeTangent() -> State { State(0) }
    func setTangentIdentity(_ t: State) { t.value = 1 }
    func step(from u: State, into v: State, tangent t: State, start: Int, stop: Int, level: Int) throws {
        let k = Double(stop - start)
        var d = exactCoarse && level > 0 ? pow(1 / (1 - lambda * h), k) : 1 / (1 - lambda * h * k)
        if nonlinearity != 0 { d += h * k * nonlinearity * cos(u.value) }
        try step(from: u, into: v, start: start, stop: stop, level: level)
        t.value *= d
    }
    func tangentSum(_ alpha: Double, _ x: State, _ beta: Double, _ y: State) { sum(alpha, x, beta, y) }
    func tangentProduct(_ a: State, _ b: State, into c: State) { c.value = a.value * b.value }
    func applyTangent(_ t: State, to x: State, addingTo y: State) { y.value += t.value * x.value }
    var tangentBufferCount: Int { 1 }
    func packTangent(_ t: State, into buffer: UnsafeMutableBufferPointer<Double>) { buffer[0] = t.value }
    func unpackTangent(from buffer: UnsafeBufferPointer<Double>, into t: State) { t.value = buffer[0] }
    func sum(_ alpha: Double, _ x: State, _ beta: Double, _ y: State) {
        y.value = beta == 0 ? alpha * x.value : alpha * x.value + beta * y.value
    }
    func norm(_ u: State) -> Double { abs(u.value) }
    var bufferCount: Int { 1 }
    func pack(_ u: State, into buffer: UnsafeMutableBufferPointer<Double>) { buffer[0] = u.value }
    func unpack(from buffer: UnsafeBufferPointer<Double>, into u: State) { u.value = buffer[0] }

    /// The exact discrete (serial) solution at fine point i, by sequential stepping.
    func serial() -> [Double] {
        var u = [u0]
        for _ in 0 ..< stepCount {
            var v = u.last! / (1 - lambda * h)
            if nonlinearity != 0 { v += h * nonlinearity * sin(u.last!) }
            u.append(v)
        }
        return u
    }
}
