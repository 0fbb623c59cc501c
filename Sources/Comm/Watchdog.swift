import Foundation

/// A wall-clock limit on the whole process, for jobs that could otherwise hang
/// forever: a rank that is stopped (SIGSTOP), swapped out or deadlocked leaves the
/// others waiting in MPI for it. After `seconds` a thread of its own prints `message`
/// and ends the process with ``exitStatus``; under mpirun the death of one rank makes
/// Open MPI end the others within about a second, the stopped one included. Every
/// rank starts its own, so any rank that still runs ends the job.
public enum Watchdog {
    /// The exit status of a process ended by its watchdog (as `timeout(1)`).
    public static let exitStatus: Int32 = 124

    /// Starts the watchdog (once per process).
    public static func start(seconds: Double, message: String) {
        let thread = Thread {
            Thread.sleep(forTimeInterval: seconds)
            FileHandle.standardError.write(Data((message + "\n").utf8))
            _exit(exitStatus)
        }
        thread.name = "layerpar watchdog"
        thread.start()
    }
}
