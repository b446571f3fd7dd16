"""``CLIPPretrainer``: contrastive training of a whole open_clip CLIP on image-caption pairs, as an MMEngine model.

It stands in for the pretrained CLIP a real user downloads: on a CPU-only machine without weights the main job starts
from a small CLIP trained by this model on synthetic shapes captions (``configs/clip_pretrain/``). One step on a batch
of ``B`` images ``x`` (RGB, 0..255) and their captions:

1. grey-scale: image i becomes ``⌊mean_c x_i + ½⌋`` on all channels with probability ``p_grey`` (1 during the shape
   curriculum), and its caption loses its colour words (otherwise colour alone explains most captions);
2. texts: :func:`.batch_texts.batch_texts` (caption or object prompt, one extra object prompt, identical texts merged;
   during the shape curriculum every text is an object prompt) and the positives ``P`` (``B×T``);
3. ``v̂ = normalize(E_v((x - μ)/σ))``, ``t̂ = normalize(E_t(texts))``, ``s = min(exp(logit_scale), 100)``;
4. loss :class:`MultiPositiveClipLoss` ``(v̂, t̂, s, P)``; after the optimizer step ``logit_scale`` is clamped to
   ``[0, ln 100]`` (as open_clip's training).

The shape curriculum is switched by :class:`ShapeCurriculumHook` (``curriculum`` attribute). Randomness of steps 1-2
comes from the model's ``torch.Generator`` (saved and restored by ``ExactResumeHook``); the BPE ids seen in training
are marked in the ``seen_tokens`` buffer (the exported checkpoint zeroes the embedding rows of the others).

``predict`` (validation/test on a segmentation benchmark, for ``IoUMetric``): the MaskCLIP dense read-out
(``CLIPImageEncoder.encode_dense``) against prompt embeddings of the shape classes, argmax per pixel
(``pred_sem_seg``; evaluate it with the background ignored), and the zero-shot class of the whole image
(``pred_label``: argmax of ``v̂`` against the same prompts).
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from mmseg.registry import MODELS

from ..clip import CLIPImageEncoder, build_open_clip, build_tokenizer
from .batch_texts import PLAIN_TEMPLATES, batch_texts, drop_colours, noun_phrases, phrase_words, positives

IMAGENET_MEAN = (123.675, 116.28, 103.53)  # RGB, 0..255: the segmentors' SegDataPreProcessor (TCL's convention)
IMAGENET_STD = (58.395, 57.12, 57.375)


@MODELS.register_module()
class CLIPPretrainer(BaseModel):
    """Contrastive training of an open_clip CLIP (module doc).

    Args:
        model_name: open_clip architecture (plugin tiny configs included).
        pretrained: initial weights (open_clip tag or file); ``None``: random init.
        loss: config of the contrastive loss (``MultiPositiveClipLoss``).
        class_names: classes ``predict`` reads out (the benchmark's foreground classes, in label order).
        templates: prompt templates of the object prompts: ``'plain'`` (6 plain ones), ``'all'`` (plain + CLIP's 80
            ImageNet + the plugin's custom ones) or a list.
        curriculum_templates: templates while the shape curriculum is on (same choices).
        subcaption_prob: probability that an image's text is an object prompt instead of its caption.
        object_prompt_prob: probability of one extra object prompt per image.
        grey_prob: probability of a grey-scale image (and colour-free caption) outside the curriculum.
        colours: colour words dropped from the captions of grey images (default: the shapes generator's colours).
        eval_prompt: template of the class prompts used by ``predict``.
        seed: seed of the model's generator.
        data_preprocessor: stacks the batch and converts BGR to RGB; normalisation is done here, after greying.
    """

    def __init__(self,
                 model_name: str,
                 pretrained: Optional[str] = None,
                 loss: Optional[dict] = None,
                 class_names: Sequence[str] = (),
                 templates='all',
                 curriculum_templates='all',
                 subcaption_prob: float = 0.6,
                 object_prompt_prob: float = 1.0,
                 grey_prob: float = 0.5,
                 colours: Optional[Sequence[str]] = None,
                 eval_prompt: str = 'a photo of a {}.',
                 seed: int = 0,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='SegDataPreProcessor', bgr_to_rgb=True, size_divisor=1)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.model_name = model_name
        self.clip = build_open_clip(model_name, pretrained)
        self.tokenizer = build_tokenizer(model_name, context_length=int(self.clip.context_length))
        self.loss_fn = MODELS.build(loss or dict(type='MultiPositiveClipLoss'))
        self.class_names = list(class_names)
        self.templates = self._templates(templates)
        self.curriculum_templates = self._templates(curriculum_templates)
        self.subcaption_prob = float(subcaption_prob)
        self.object_prompt_prob = float(object_prompt_prob)
        self.grey_prob = float(grey_prob)
        if colours is None:
            from mmseg_code.datasets.synthetic_shapes import COLOURS
            colours = list(COLOURS)
        self.colours = list(colours)
        self.eval_prompt = eval_prompt
        self.curriculum = False
        self._generator = torch.Generator().manual_seed(int(seed))
        self._token_cache: Dict[str, torch.Tensor] = {}
        self.register_buffer('seen_tokens', torch.zeros(self.clip.token_embedding.num_embeddings, dtype=torch.bool))
        self.register_buffer('mean', torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @staticmethod
    def _templates(spec) -> List[str]:
        if spec == 'plain':
            return list(PLAIN_TEMPLATES)
        if spec == 'all':
            from ..vocab import TEMPLATES
            return PLAIN_TEMPLATES + TEMPLATES['imagenet80'] + TEMPLATES['custom']
        if isinstance(spec, str) or not spec:
            raise ValueError(f"CLIPPretrainer: templates must be 'plain', 'all' or a list of strings, got {spec!r}")
        return list(spec)

    def init_weights(self) -> None:
        # open_clip initialises (or loads) the weights at construction; mmengine's default init must not redo it
        if self.init_cfg is not None:
            super().init_weights()

    # ------------------------------------------------------------------ randomness (ExactResumeHook)
    def get_rng_state(self) -> torch.Tensor:
        return self._generator.get_state()

    def set_rng_state(self, state: torch.Tensor) -> None:
        self._generator.set_state(state)

    # ------------------------------------------------------------------ encoders
    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean) / self.std

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """BPE ids ``len(texts)×L`` (cached per text); marks the ids in ``seen_tokens``."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._token_cache]
        if missing:
            for text, ids in zip(missing, self.tokenizer(missing)):
                self._token_cache[text] = ids
                self.seen_tokens[ids] = True
        return torch.stack([self._token_cache[t] for t in texts]).to(self.seen_tokens.device)

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        return F.normalize(self.clip.encode_text(self.tokenize(texts)), dim=-1)

    # ------------------------------------------------------------------ forward
    def forward(self, inputs: torch.Tensor, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return F.normalize(self.clip.encode_image(self.normalise(inputs)), dim=-1)
        raise ValueError(f'CLIPPretrainer: unknown mode {mode!r}')

    def loss(self, inputs: torch.Tensor, data_samples) -> Dict[str, torch.Tensor]:
        captions = [s.metainfo['caption'] for s in data_samples]
        grey_p = 1.0 if self.curriculum else self.grey_prob
        grey = torch.rand(len(captions), generator=self._generator) < grey_p
        g = grey.to(inputs.device).view(-1, 1, 1, 1)
        x = torch.where(g, torch.floor(inputs.mean(1, keepdim=True) + 0.5).expand_as(inputs), inputs)
        truths = [drop_colours(c, self.colours) if gr else c for c, gr in zip(captions, grey.tolist())]
        texts, contents, sources = batch_texts(
            truths, self._generator, self.curriculum_templates if self.curriculum else self.templates,
            1.0 if self.curriculum else self.subcaption_prob, self.object_prompt_prob)
        pos = positives([[phrase_words(p) for p in noun_phrases(t)] for t in truths], contents, sources)
        img = F.normalize(self.clip.encode_image(self.normalise(x)), dim=-1)
        txt = self.encode_texts(texts)
        scale = self.clip.logit_scale.exp().clamp(max=100)
        loss = self.loss_fn(img, txt, scale, positives=pos.to(img.device))
        return dict(loss=loss, temperature=scale.detach(), num_texts=torch.tensor(float(len(texts))))

    def train_step(self, data, optim_wrapper) -> Dict[str, torch.Tensor]:
        log_vars = super().train_step(data, optim_wrapper)
        with torch.no_grad():
            self.clip.logit_scale.clamp_(0, math.log(100))
        return log_vars

    def parse_losses(self, losses):
        # temperature and number of texts are logged, not optimised
        logged = {k: losses.pop(k) for k in ('temperature', 'num_texts') if k in losses}
        loss, log_vars = super().parse_losses(losses)
        log_vars.update({k: v.item() for k, v in logged.items()})
        return loss, log_vars

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, data_samples) -> list:
        if not self.class_names:
            raise ValueError('CLIPPretrainer: predict needs class_names (the benchmark classes to read out)')
        x = self.normalise(inputs)
        prompts = self.encode_texts([self.eval_prompt.format(c) for c in self.class_names])  # K×D
        image_class = (F.normalize(self.clip.encode_image(x), dim=-1) @ prompts.t()).argmax(1)
        dense = F.normalize(CLIPImageEncoder(self.clip.visual).encode_dense(x), dim=1)  # B×D×h×w
        scores = torch.einsum('bdhw,kd->bkhw', dense, prompts)
        for i, sample in enumerate(data_samples):
            h, w = sample.metainfo['ori_shape'][:2]
            score = F.interpolate(scores[i:i + 1], size=(h, w), mode='bilinear', align_corners=False)[0]
            sample.set_data(dict(seg_logits=PixelData(data=score), pred_sem_seg=PixelData(data=score.argmax(0)[None]),
                                 pred_label=image_class[i:i + 1]))
        return data_samples
