namespace Engine.Training;

/// <summary>One op's parity check (<see cref="ComputeContext.CheckTrainerOps"/>): the largest absolute error and
/// that error over the largest |reference| of its outputs (forward) and gradients (backward), the tolerance the
/// relative errors are judged by, and whether both are within it.</summary>
public sealed record TrainerOpCheck(string Op, double ForwardMaxAbsError, double ForwardMaxRelError, double BackwardMaxAbsError,
    double BackwardMaxRelError, double Tolerance, bool Passed);
