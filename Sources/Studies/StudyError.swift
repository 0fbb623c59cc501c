/// A study that cannot run or whose run failed, with its reason as the text
/// (`mpirun -np 2 … failed (exit 1): …`, `--measured: cannot read 'x.json'`).
public struct StudyError: Error, CustomStringConvertible {
    public let description: String
    public init(_ text: String) { description = text }
}
