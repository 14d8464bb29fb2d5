using Engine.Interop.Trainer;

namespace Engine.Training.Tests;

/// <summary>Failures come back across the C ABI as status codes with a message, never as a crash.</summary>
public sealed class NativeErrorTests
{
    [Fact]
    public void TokenOutsideVocabularyIsInvalidArgumentWithMessage()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var context = ComputeContext.CreateCpu(threads: 1);
        using var model = f.CreateModel(context, ComputeDType.Float32);
        var tokens = (int[])f.Tokens.Clone();
        tokens[3] = f.Config.VocabSize;

        var e = Assert.Throws<NativeTrainerException>(() => model.ForwardBackward(new PackedBatch(tokens, f.Labels, f.DocumentLengths), 1.0));
        Assert.Equal("InvalidArgument", e.Status);
        Assert.Equal("TrainerImports.eng_model_forward_backward", e.Call);
        Assert.Contains($"token 3 is {f.Config.VocabSize}, outside the vocabulary [0, {f.Config.VocabSize})", e.Message);
    }

    [Fact]
    public void LabelOutsideVocabularyIsInvalidArgument()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var context = ComputeContext.CreateCpu(threads: 1);
        using var model = f.CreateModel(context, ComputeDType.Float32);
        var labels = (int[])f.Labels.Clone();
        labels[5] = -7;

        var e = Assert.Throws<NativeTrainerException>(() => model.Forward(new PackedBatch(f.Tokens, labels, f.DocumentLengths)));
        Assert.Contains("label 5 is -7", e.Message);
    }

    [Fact]
    public void NativeConfigValidationReportsTheField()
    {
        using var context = ComputeContext.CreateCpu(threads: 1);
        var config = new EngModelConfig
        {
            VocabSize = 10, HiddenSize = 12, IntermediateSize = 8, NumLayers = 1, NumHeads = 4, NumKvHeads = 3,
            RmsNormEps = 1e-6, RopeTheta = 10000, ComputeDType = (int)EngDType.F32,
        };
        var status = TrainerImports.eng_model_create(out var model, context.Context, config);
        using (model)
        {
            Assert.Equal(EngStatus.InvalidArgument, status);
            Assert.True(model.IsInvalid);
        }
        var e = Assert.Throws<NativeTrainerException>(() => NativeTrainerException.Check(status));
        Assert.Contains("num_kv_heads (3) must divide num_heads (4)", e.Message);
    }

    [Fact]
    public void CudaContextIsUnsupportedOnThisBuild()
    {
        var options = new EngContextOptions { DeviceKind = (int)EngDeviceKind.Cuda };
        var status = TrainerImports.eng_context_create(out var context, options);
        using (context)
        {
            Assert.Equal(EngStatus.Unsupported, status);
            var e = Assert.Throws<NativeTrainerException>(() => NativeTrainerException.Check(status));
            Assert.Contains("no CUDA", e.Message);
        }
    }

    [Fact]
    public void ReadOutsideTheBuffersIsInvalidArgument()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var context = ComputeContext.CreateCpu(threads: 1);
        using var model = f.CreateModel(context, ComputeDType.Float32);
        var e = Assert.Throws<NativeTrainerException>(() => model.ReadGradients(new double[4], model.ParameterCount - 2));
        Assert.Contains("outside the", e.Message);
    }

    [Fact]
    public void ManagedConfigRejectsBadShapesBeforeNative()
    {
        var e = Assert.Throws<ArgumentException>(() => new Qwen2Config(10, 12, 8, 1, 4, 3, true, 1e-6, 10000));
        Assert.Contains("num_key_value_heads (3)", e.Message);
        Assert.Throws<ArgumentException>(() => new PackedBatch([1, 2, 3], [1, 2, 3], [2, 2]));
    }
}
