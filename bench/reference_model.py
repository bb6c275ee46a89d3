"""The reference MIL-NCE model and loss in PyTorch, written from REFERENCE.md (sections 1-3).

Used as the side-by-side baseline of `bench/reference_train_step.py` and as a test oracle.
"""
import torch as th
import torch.nn as nn
import torch.nn.functional as F


class SelfGating(nn.Module):
    def __init__(self, input_dim):
        super().__init__()
        self.fc = nn.Linear(input_dim, input_dim)

    def forward(self, x):
        weights = th.sigmoid(self.fc(th.mean(x, dim=[2, 3, 4])))
        return weights[:, :, None, None, None] * x


class STConv3D(nn.Module):
    def __init__(self, input_dim, output_dim, kernel_size, stride=1, padding=0, separable=False):
        super().__init__()
        self.separable = separable
        self.relu = nn.ReLU(inplace=True)
        if separable and kernel_size[0] != 1:
            s = stride if isinstance(stride, (list, tuple)) else [stride] * 3
            p = padding if isinstance(padding, (list, tuple)) else [padding] * 3
            self.conv1 = nn.Conv3d(input_dim, output_dim, [1, kernel_size[1], kernel_size[2]],
                                   stride=[1, s[1], s[2]], padding=[0, p[1], p[2]], bias=False)
            self.bn1 = nn.BatchNorm3d(output_dim)
            self.conv2 = nn.Conv3d(output_dim, output_dim, [kernel_size[0], 1, 1],
                                   stride=[s[0], 1, 1], padding=[p[0], 0, 0], bias=False)
            self.bn2 = nn.BatchNorm3d(output_dim)
        else:
            self.separable = False
            self.conv1 = nn.Conv3d(input_dim, output_dim, kernel_size, stride=stride, padding=padding, bias=False)
            self.bn1 = nn.BatchNorm3d(output_dim)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        if self.separable:
            out = self.relu(self.bn2(self.conv2(out)))
        return out


class MaxPool3dTFPadding(nn.Module):
    def __init__(self, kernel_size, stride):
        super().__init__()
        pads = []
        for k, s in zip(kernel_size, stride):
            along = max(k - s, 0)
            pads.append((along // 2, along - along // 2))
        # ConstantPad3d takes (W, H, T) pairs.
        self.pad = nn.ConstantPad3d((*pads[2], *pads[1], *pads[0]), 0)
        self.pool = nn.MaxPool3d(kernel_size, stride, ceil_mode=True)

    def forward(self, x):
        return self.pool(self.pad(x))


class InceptionBlock(nn.Module):
    def __init__(self, input_dim, b0, b1a, b1b, b2a, b2b, b3b):
        super().__init__()
        self.conv_b0 = STConv3D(input_dim, b0, [1, 1, 1])
        self.conv_b1_a = STConv3D(input_dim, b1a, [1, 1, 1])
        self.conv_b1_b = STConv3D(b1a, b1b, [3, 3, 3], padding=1, separable=True)
        self.conv_b2_a = STConv3D(input_dim, b2a, [1, 1, 1])
        self.conv_b2_b = STConv3D(b2a, b2b, [3, 3, 3], padding=1, separable=True)
        self.maxpool_b3 = nn.MaxPool3d((3, 3, 3), stride=1, padding=1)
        self.conv_b3_b = STConv3D(input_dim, b3b, [1, 1, 1])
        self.gating_b0 = SelfGating(b0)
        self.gating_b1 = SelfGating(b1b)
        self.gating_b2 = SelfGating(b2b)
        self.gating_b3 = SelfGating(b3b)
        self.output_dim = b0 + b1b + b2b + b3b

    def forward(self, x):
        b0 = self.gating_b0(self.conv_b0(x))
        b1 = self.gating_b1(self.conv_b1_b(self.conv_b1_a(x)))
        b2 = self.gating_b2(self.conv_b2_b(self.conv_b2_a(x)))
        b3 = self.gating_b3(self.conv_b3_b(self.maxpool_b3(x)))
        return th.cat((b0, b1, b2, b3), dim=1)


class SentenceEmbedding(nn.Module):
    def __init__(self, embd_dim, num_embeddings=66250, word_embedding_dim=300, output_dim=2048):
        super().__init__()
        self.word_embd = nn.Embedding(num_embeddings, word_embedding_dim)
        self.word_embd.weight.requires_grad = False
        self.fc1 = nn.Linear(word_embedding_dim, output_dim)
        self.fc2 = nn.Linear(output_dim, embd_dim)

    def forward(self, x):
        with th.no_grad():
            x = self.word_embd(x)
        x = F.relu(self.fc1(x), inplace=True)
        x = th.max(x, dim=1)[0]
        return self.fc2(x)


class S3D(nn.Module):
    def __init__(self, num_classes=512, space_to_depth=False, vocab=66250):
        super().__init__()
        self.space_to_depth = space_to_depth
        if space_to_depth:
            self.conv1 = STConv3D(24, 64, [2, 4, 4], stride=1, padding=(1, 2, 2))
        else:
            self.conv1 = STConv3D(3, 64, [3, 7, 7], stride=2, padding=(1, 3, 3))
        self.conv_2b = STConv3D(64, 64, [1, 1, 1])
        self.conv_2c = STConv3D(64, 192, [3, 3, 3], padding=1, separable=True)
        self.gating = SelfGating(192)
        self.maxpool_2a = MaxPool3dTFPadding((1, 3, 3), (1, 2, 2))
        self.maxpool_3a = MaxPool3dTFPadding((1, 3, 3), (1, 2, 2))
        self.mixed_3b = InceptionBlock(192, 64, 96, 128, 16, 32, 32)
        self.mixed_3c = InceptionBlock(256, 128, 128, 192, 32, 96, 64)
        self.maxpool_4a = MaxPool3dTFPadding((3, 3, 3), (2, 2, 2))
        self.mixed_4b = InceptionBlock(480, 192, 96, 208, 16, 48, 64)
        self.mixed_4c = InceptionBlock(512, 160, 112, 224, 24, 64, 64)
        self.mixed_4d = InceptionBlock(512, 128, 128, 256, 24, 64, 64)
        self.mixed_4e = InceptionBlock(512, 112, 144, 288, 32, 64, 64)
        self.mixed_4f = InceptionBlock(528, 256, 160, 320, 32, 128, 128)
        self.maxpool_5a = MaxPool3dTFPadding((2, 2, 2), (2, 2, 2))
        self.mixed_5b = InceptionBlock(832, 256, 160, 320, 32, 128, 128)
        self.mixed_5c = InceptionBlock(832, 384, 192, 384, 48, 128, 128)
        self.fc = nn.Linear(1024, num_classes)
        self.text_module = SentenceEmbedding(num_classes, num_embeddings=vocab)

    def _space_to_depth(self, x):
        B, C, T, H, W = x.shape
        x = x.view(B, C, T // 2, 2, H // 2, 2, W // 2, 2).permute(0, 3, 5, 7, 1, 2, 4, 6)
        return x.contiguous().view(B, 8 * C, T // 2, H // 2, W // 2)

    def forward_video(self, x, mixed5c=False):
        if self.space_to_depth:
            x = self._space_to_depth(x)
        net = self.conv1(x)
        if self.space_to_depth:
            net = net[:, :, 1:, 1:, 1:]
        net = self.maxpool_2a(net)
        net = self.conv_2c(self.conv_2b(net))
        net = self.gating(net)
        net = self.maxpool_3a(net)
        net = self.mixed_3c(self.mixed_3b(net))
        net = self.maxpool_4a(net)
        net = self.mixed_4f(self.mixed_4e(self.mixed_4d(self.mixed_4c(self.mixed_4b(net)))))
        net = self.maxpool_5a(net)
        net = self.mixed_5c(self.mixed_5b(net))
        net = th.mean(net, dim=[2, 3, 4])
        if mixed5c:
            return net
        return self.fc(net)

    def forward(self, video, text):
        return self.forward_video(video), self.text_module(text)


def milnce_loss(video_embd, text_embd):
    x = th.matmul(video_embd, text_embd.t())
    x = x.view(video_embd.shape[0], video_embd.shape[0], -1)
    nominator = x * th.eye(x.shape[0], device=x.device)[:, :, None]
    nominator = th.logsumexp(nominator.sum(dim=1), dim=1)
    denominator = th.cat((x, x.permute(1, 0, 2)), dim=1).view(x.shape[0], -1)
    denominator = th.logsumexp(denominator, dim=1)
    return th.mean(denominator - nominator)
