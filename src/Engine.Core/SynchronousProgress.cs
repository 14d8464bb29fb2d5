namespace Engine.Core;

/// <summary>An <see cref="IProgress{T}"/> that calls <paramref name="report"/> on the reporting thread, in order
/// (<see cref="Progress{T}"/> would post each report to the thread pool or a synchronization context).</summary>
public sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    /// <summary>Calls the action with <paramref name="value"/> at once.</summary>
    public void Report(T value) => report(value);
}
