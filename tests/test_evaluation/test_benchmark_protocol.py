"""End-to-end zero-shot protocol: hand-made score maps through the real predict path, the benchmark configs, IoUMetric
and the numbers ``tools/benchmark.py`` writes (expected values computed by hand from the tiny dataset in conftest)."""
import csv
import json
import os.path as osp

import pytest
from evalkit import make_voc, write_model_config

from tools import benchmark

SMALL = ['test_dataloader.dataset.pipeline.1.scale=(96,32)',  # short side stays 32 (no upscaling to 448)
         'model.test_cfg.kp_weight=0',                          # no MaskCLIP branch (its features are not hand-made)
         'test_dataloader.num_workers=0']

# --- expected mIoU by hand (pixel counts of the tiny VOC in conftest: 32×48 images) -------------------------------
# red: score(aeroplane)=0.45, green: score(bicycle)=0.7, blue: every class σ(−2.5)=0.076.
# VOC21, PAMR (bg plane 0.4): red → aeroplane everywhere, green → bicycle, blue → background.
#   background: GT 768 (red right) + 1232 (blue 28×44), predicted 1232, I = 1232, U = 2000
#   aeroplane : GT 768, predicted 1536 → 768/1536 ; bicycle: GT 512, predicted 1536 → 1/3 ; bird: GT 1024, pred 0
VOC21_PAMR = 100 * (1232 / 2000 + 768 / 1536 + 512 / 1536 + 0) / 4
# VOC21, no PAMR (bg plane 0.5): red → background (0.45 < 0.5).
#   background: I = 768 + 1232, U = 1536 + 1232 ; aeroplane 0 ; bicycle 1/3 ; bird 0
VOC21_NO_PAMR = 100 * (2000 / 2768 + 0 + 512 / 1536 + 0) / 4
# VOC20 (background ignored, labels shifted): aeroplane 768/768, bicycle 512/1536, bird 0; no background plane.
VOC20 = 100 * (1 + 512 / 1536 + 0) / 3


@pytest.fixture
def voc_root(tmp_path):
    make_voc(tmp_path / 'data')
    return str(tmp_path / 'data')


def test_benchmark_table_numbers(tmp_path, voc_root, hand_made_scores, capsys):
    cfg = write_model_config(tmp_path / 'tiny.py')
    out = tmp_path / 'bench'
    rc = benchmark.main([cfg, 'none', '--data-root', voc_root, '--out-dir', str(out),
                         '--benchmarks', 'voc21', 'context60', 'voc20', '--cfg-options', *SMALL])
    assert rc == 0
    printed = capsys.readouterr().out
    # the missing dataset is named with the path that was looked for
    assert 'SKIP context60' in printed and osp.join(voc_root, 'VOCdevkit', 'VOC2010') in printed
    assert '(PAMR, bg_thresh 0.4)' in printed and '(no PAMR, bg_thresh 0.5)' in printed

    with open(out / 'table.csv') as f:
        rows = {r['method']: r for r in csv.DictReader(f)}
    ours, ours_np = rows['ours (PAMR)'], rows['ours (no PAMR)']
    assert float(ours['voc21']) == pytest.approx(VOC21_PAMR, abs=0.01)
    assert float(ours_np['voc21']) == pytest.approx(VOC21_NO_PAMR, abs=0.01)
    assert float(ours['voc20']) == pytest.approx(VOC20, abs=0.01)
    assert float(ours_np['voc20']) == pytest.approx(VOC20, abs=0.01)
    assert ours['context60'] == '' and ours['avg8'] == ''          # missing: no number, no paper-style average
    # reference rows: the papers' Table 1 (TCL CVPR'23: VOC 55.0, Context 30.4, VOC20 83.2; CoDe CVPR'24: VOC 57.7)
    assert float(rows['TCL paper (PAMR)']['voc21']) == 55.0
    assert float(rows['TCL paper (PAMR)']['voc20']) == 83.2
    assert float(rows['CoDe paper (PAMR)']['voc21']) == 57.7
    assert rows['CoDe paper (PAMR)']['voc20'] == ''

    md = (out / 'table.md').read_text()
    header = md.splitlines()[0]
    assert header.split('|')[1:-1] == [' method ', ' PAMR ', ' tuned per benchmark ', ' VOC ', ' Context ', ' VOC20 ',
                                       ' Avg (8) ', ' Avg (6) ', ' img/s ']
    line = next(ln for ln in md.splitlines() if ln.startswith('| ours (PAMR)'))
    cells = [c.strip() for c in line.split('|')[1:-1]]
    assert cells[1:3] == ['yes', 'no']
    assert cells[3:6] == [f'{VOC21_PAMR:.1f}', '–', f'{VOC20:.1f}']
    assert cells[6] == f'{(VOC21_PAMR + VOC20) / 2:.1f}*'       # partial mean, flagged
    # images/s of this run: the 6 images (3 per benchmark) over the seconds of their two test runs
    res = json.loads((out / 'results.json').read_text())
    runs = res['metrics']['pamr']
    assert [runs[n]['images'] for n in ('voc21', 'voc20')] == [3, 3]
    ips = 6 / (runs['voc21']['seconds'] + runs['voc20']['seconds'])
    assert res['images_per_s']['pamr'] == pytest.approx(ips)
    assert float(cells[8]) == pytest.approx(ips, abs=0.006) and float(ours['images_per_s']) == pytest.approx(ips, 1e-3)
    assert (ours['pamr'], ours['tuned_per_benchmark'], ours_np['pamr']) == ('yes', 'no', 'no')
    paper = next(ln for ln in md.splitlines() if ln.startswith('| TCL paper (PAMR)'))
    assert [c.strip() for c in paper.split('|')[1:-1]][-1] == '–'     # no speed for published numbers
    assert 'Context (context60) not evaluated' in md

    res = json.loads((out / 'results.json').read_text())
    assert set(res['miou']) == {'pamr', 'no_pamr'} and set(res['miou']['pamr']) == {'voc21', 'voc20'}
    # the class embeddings are computed once per run (one model per run, several images each)
    assert hand_made_scores['encode_vocabulary'] == 4
    # PAMR ran once per window in the PAMR runs only: 3 images × 1 window (32×48 < 448 crop) × 2 benchmarks
    assert hand_made_scores['pamr'] == 6


def test_full_table_layout_lists_all_benchmarks_missing(tmp_path, capsys):
    cfg = write_model_config(tmp_path / 'tiny.py')
    # nothing evaluated: exit status 2 with one line saying so (issue 14), after the tables with the papers' rows
    rc = benchmark.tool.run_tool(benchmark.main, [cfg, 'none', '--data-root', str(tmp_path / 'nothing'), '--out-dir',
                                                  str(tmp_path / 'o')])
    captured = capsys.readouterr()
    printed, err = captured.out, captured.err
    assert rc == 2 and err.count('\n') == 1
    assert err.split(': error: ', 1)[1].startswith(f'nothing was evaluated: no benchmark data found under --data-root '
                                                   f'{tmp_path / "nothing"}')
    for name in benchmark.BENCHMARKS:
        assert f'SKIP {name}' in printed
    header = (tmp_path / 'o' / 'table.md').read_text().splitlines()[0]
    assert [c.strip() for c in header.split('|')[1:-1]] == [
        'method', 'PAMR', 'tuned per benchmark', 'VOC', 'Context', 'Object', 'VOC20', 'Context59', 'Stuff', 'City',
        'ADE', 'Avg (8)', 'Avg (6)', 'img/s']
    rows = list(csv.DictReader(open(tmp_path / 'o' / 'table.csv')))
    tcl = next(r for r in rows if r['method'] == 'TCL paper (PAMR)')
    code = next(r for r in rows if r['method'] == 'CoDe paper (PAMR)')
    # the papers' averages: TCL 37.2 over 8 (its Table 1), CoDe 31.8 over 6 (its Table 1)
    assert float(tcl['avg8']) == pytest.approx(37.2, abs=0.05)
    assert float(code['avg6']) == pytest.approx(31.8, abs=0.05)
    assert (tcl['tuned_per_benchmark'], code['pamr']) == ('no', 'yes')
    # training-free references (anchors: SCLIP 31.8 on CoDe's six, NACLIP 33.4 / 36.4 with PAMR, avg8 38.2 / 39.4)
    by = {r['method']: r for r in rows}
    assert float(by['SCLIP paper']['avg6']) == pytest.approx(31.8, abs=0.05)
    assert float(by['SCLIP paper']['avg8']) == pytest.approx(38.2, abs=0.05)
    assert float(by['NACLIP paper']['avg6']) == pytest.approx(33.4, abs=0.05)
    assert float(by['NACLIP paper']['avg8']) == pytest.approx(39.4, abs=0.05)
    assert float(by['NACLIP release (PAMR)']['avg6']) == pytest.approx(36.4, abs=0.05)
    assert float(by['ClearCLIP paper']['avg8']) == pytest.approx(38.1, abs=0.05)
    assert float(by['MaskCLIP, SCLIP re-run']['avg8']) == pytest.approx(30.25, abs=0.01)     # 30.3 rounded
    assert all(by[m]['tuned_per_benchmark'] == 'yes' for m in ('SCLIP paper', 'NACLIP release (PAMR)'))
    assert by['NACLIP release (PAMR)']['pamr'] == 'yes' and by['SCLIP paper']['pamr'] == 'no'


def test_dump_configs_for_test_tool(tmp_path):
    from mmengine.config import Config
    cfg = write_model_config(tmp_path / 'tiny.py')
    out = tmp_path / 'dump'
    assert benchmark.main([cfg, 'none', '--data-root', str(tmp_path / 'd'), '--out-dir', str(out),
                           '--benchmarks', 'voc21', 'ade20k', '--dump-configs']) == 0
    for name, bg in (('voc21', True), ('ade20k', False)):
        for setting, pamr, thr in (('pamr', True, 0.4), ('nopamr', False, 0.5)):
            c = Config.fromfile(str(out / 'configs' / f'{name}_{setting}.py'))
            assert c.model.type == 'TCL' and c.model.vocabulary.endswith(f'vocab/{name}.txt')
            assert c.model.test_cfg['pamr'] is pamr and c.model.test_cfg['bg_thresh'] == thr
            assert c.model.test_cfg['mode'] == 'slide' and c.model.test_cfg['crop_size'] == (448, 448)
            assert c.test_dataloader.dataset.data_root.startswith(str(tmp_path / 'd'))
            assert c.test_cfg == dict(type='TestLoop') and c.train_dataloader is None


def test_benchmark_runs_a_training_free_config(tmp_path, voc_root, monkeypatch):
    """The training-free config through the same tool, checkpoint ``none``: its protocol (probability threshold 0.1,
    no KP) survives the benchmark's PAMR settings, its row is labelled with the method, not tuned per benchmark."""
    from mmseg_code.models.heads.open_vocab_head import OpenVocabularyHead
    seen = []
    orig = OpenVocabularyHead.predict_by_feat

    def spy(self, feats, images, clip_feats, classes, test_cfg):
        seen.append((type(self).__name__, self.last_block, test_cfg['pamr'], test_cfg['bg_thresh'],
                     test_cfg['kp_weight']))
        return orig(self, feats, images, clip_feats, classes, test_cfg)

    monkeypatch.setattr(OpenVocabularyHead, 'predict_by_feat', spy)
    out = tmp_path / 'bench'
    cfg = osp.join(benchmark.ROOT, 'configs/training_free/naclip/naclip_vitb16.py')
    rc = benchmark.main([cfg, 'none', '--data-root', voc_root, '--out-dir', str(out), '--benchmarks', 'voc21',
                         '--cfg-options', 'model.clip.model_name=mmcode-tiny-vit-p16', 'model.clip.pretrained=None',
                         *SMALL])
    assert rc == 0
    # 3 images, one window each, PAMR run then no-PAMR run: bg_thresh stays the method's 0.1, KP mix off
    assert seen == [('TrainingFreeHead', 'naclip', True, 0.1, 0.0)] * 3 + [('TrainingFreeHead', 'naclip', False, 0.1,
                                                                             0.0)] * 3
    rows = {r['method']: r for r in csv.DictReader(open(out / 'table.csv'))}
    for label, pamr in (('NACLIP (PAMR)', 'yes'), ('NACLIP (no PAMR)', 'no')):
        row = rows[label]
        assert (row['pamr'], row['tuned_per_benchmark']) == (pamr, 'no')
        assert 0 <= float(row['voc21']) <= 100 and float(row['images_per_s']) > 0
    assert 'NACLIP (PAMR) | yes | no |' in (out / 'table.md').read_text()
