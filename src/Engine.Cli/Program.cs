using Engine.Cli;

return await EngineCli.RunAsync(args);
