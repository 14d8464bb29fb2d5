using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Engine.Interop.Trainer;
using Engine.Testing;

namespace Engine.Training.Tests;

/// <summary>The C# binding of the trainer's C ABI (Engine.Interop/Trainer/TrainerTypes.cs) against
/// native/include/engine_native.h, field by field: a small C program built with the machine's C compiler (the one
/// the native build needs) prints every struct's size and every field's offset and size, and each binding struct
/// must match them, with the same fields in the same order.</summary>
public sealed class TrainerAbiLayoutTests
{
    private static readonly string Header = ClangCudaCompiler.RepositoryPath("native", "include", "engine_native.h");

    [Fact]
    public void EveryHeaderStructHasABindingWithItsSizeAndFieldOffsets()
    {
        var structs = HeaderStructs(File.ReadAllText(Header));
        Assert.Contains("eng_tensor_info", structs.Keys);
        Assert.Contains(structs["eng_op_check"], f => f == "forward_max_rel_error");  // a "double a, b;" line
        var bindings = typeof(EngBatch).Assembly.GetTypes()
            .Where(t => t.Namespace == typeof(EngBatch).Namespace && t.IsValueType && !t.IsEnum && t.Name.StartsWith("Eng", StringComparison.Ordinal))
            .ToDictionary(t => Key(t.Name));
        Assert.Equal(structs.Keys.Select(Key).Order(), bindings.Keys.Order());

        var layout = NativeLayout(structs);
        foreach (var (name, fields) in structs)
        {
            var type = bindings[Key(name)];
            Assert.True(layout[name] == Marshal.SizeOf(type), $"{name}: {layout[name]} bytes in C, {Marshal.SizeOf(type)} in {type.Name}");
            var members = type.GetFields(BindingFlags.Public | BindingFlags.Instance).OrderBy(f => (long)Marshal.OffsetOf(type, f.Name)).ToArray();
            Assert.Equal(fields.Select(Key), members.Select(f => Key(f.Name)));
            foreach (var (field, member) in fields.Zip(members))
            {
                long offset = Marshal.OffsetOf(type, member.Name);
                long size = member.FieldType.IsPointer ? IntPtr.Size : Marshal.SizeOf(member.FieldType);
                Assert.True(layout[$"{name}.{field}"] == offset, $"{name}.{field}: offset {layout[$"{name}.{field}"]} in C, {offset} in {type.Name}.{member.Name}");
                Assert.True(layout[$"{name}.{field}#size"] == size, $"{name}.{field}: {layout[$"{name}.{field}#size"]} bytes in C, {size} in {type.Name}.{member.Name}");
            }
        }
    }

    /// <summary>Each <c>typedef struct x { ... } x;</c> of the header with its field names in order.</summary>
    private static Dictionary<string, List<string>> HeaderStructs(string header)
    {
        string code = Regex.Replace(header, @"/\*.*?\*/", " ", RegexOptions.Singleline);
        var result = new Dictionary<string, List<string>>();
        foreach (Match s in Regex.Matches(code, @"typedef\s+struct\s+(\w+)\s*\{(.*?)\}\s*\1\s*;", RegexOptions.Singleline))
        {
            var fields = new List<string>();
            foreach (string declaration in s.Groups[2].Value.Split(';').Select(d => d.Trim()).Where(d => d.Length > 0))
            {
                // "double a, b": every declarator names a field; the last identifier before an array bound is its name.
                foreach (string declarator in declaration.Split(','))
                    fields.Add(Regex.Match(declarator, @"(\w+)\s*(\[\s*\w+\s*\])?\s*$").Groups[1].Value);
            }
            result[s.Groups[1].Value] = fields;
        }
        return result;
    }

    /// <summary>sizeof of every struct (key "name"), offsetof and sizeof of every field ("name.field", "name.field#size"),
    /// as the C compiler lays them out.</summary>
    private static Dictionary<string, long> NativeLayout(Dictionary<string, List<string>> structs)
    {
        using var dir = new TempDirectory();
        var program = new System.Text.StringBuilder("#include <stdio.h>\n#include <stddef.h>\n#include \"engine_native.h\"\nint main(void)\n{\n");
        foreach (var (name, fields) in structs)
        {
            program.Append($"    printf(\"{name} %zu\\n\", sizeof({name}));\n");
            foreach (string f in fields)
                program.Append($"    printf(\"{name}.{f} %zu\\n{name}.{f}#size %zu\\n\", offsetof({name}, {f}), sizeof((({name}*)0)->{f}));\n");
        }
        program.Append("    return 0;\n}\n");
        string source = dir.Combine("abi_layout.c"), binary = dir.Combine("abi_layout");
        File.WriteAllText(source, program.ToString());
        string compiler = new[] { "cc", "gcc", "clang-14", "clang" }.FirstOrDefault(OnPath)
            ?? throw new InvalidOperationException("no C compiler (cc, gcc, clang-14, clang) on PATH; the native build needs one");
        var (exit, _, errors) = Run(compiler, ["-std=c11", "-I", Path.GetDirectoryName(Header)!, source, "-o", binary]);
        Assert.True(exit == 0, $"{compiler} failed on the layout program: {errors}");
        var (runExit, output, runErrors) = Run(binary, []);
        Assert.True(runExit == 0, runErrors);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')).ToDictionary(p => p[0], p => long.Parse(p[1]));
    }

    /// <summary>Lower case without underscores: eng_adamw_options and EngAdamWOptions are one name.</summary>
    private static string Key(string name) => name.Replace("_", "", StringComparison.Ordinal).ToLowerInvariant();

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, program)));

    private static (int Exit, string Stdout, string Stderr) Run(string program, string[] arguments)
    {
        var start = new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout, stderr.Result);
    }
}
