using Engine.Cli;
using Engine.Training.Distributed;

// Open MPI gives each rank's stdout a pseudo-terminal, and .NET then writes terminal set-up codes (keypad mode)
// into stdout on first console use, ahead of --json lines. No one types at a rank: call its terminal dumb.
if (TrainingWorld.Launch() != null) Environment.SetEnvironmentVariable("TERM", "dumb");
return await EngineCli.RunAsync(args);
