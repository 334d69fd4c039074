"""Stdout lines of the original, the TF2/Keras port and the PyTorch port, in the formats of reference section 7."""

from __future__ import annotations

EXP = "book_ComiRec-DR_b128_lr0.001_d64_len20_test79"
ARGV = "['src/train.py', '--dataset', 'book', '--model_type', 'ComiRec-DR']"
ITER1 = "iter: 1000, train loss: 8.1234, valid recall: 0.012345, valid ndcg: 0.010000, valid hitrate: 0.030000"
ITER2 = "iter: 2000, train loss: 7.5000, valid recall: 0.020000, valid ndcg: 0.015000, valid hitrate: 0.040000"
TF_WARNING = "WARNING:tensorflow:From src/train.py:120: The name tf.Session is deprecated. Please use tf.compat.v1.Session"
VALID = "valid recall: 0.062050, valid ndcg: 0.046000, valid hitrate: 0.134000, valid diversity: 0.220184"
TEST = "test recall: 0.061821, test ndcg: 0.045488, test hitrate: 0.133200, test diversity: 0.221127"
RESTORE = f"model restored from best_model/{EXP}/"


def header() -> list[str]:
    return [ARGV, "Please input the experiment name: training begin", EXP, ITER1, "time interval: 0.3360 min",
            TF_WARNING, EXP, ITER2]


TF2_LINES = [
    "training begin (Keras)",
    "⚠️  警告：ComiRec-DR 推荐使用 learning_rate=0.005",
    f"✅ 发现已有 checkpoint，自动恢复: best_model/{EXP}/keras_ckpt/ckpt-130",
    EXP, ITER1, "💾 保存新的最优模型，recall: 0.012345", "time interval: 0.3360 min",
    EXP, ITER2, f"Restoring best checkpoint for evaluation: best_model/{EXP}/keras_ckpt/ckpt-131",
    VALID, TEST,
]


PYTORCH_EXP = "book_ComiRec-SA_b128_lr0.001_d64_len20_in4_top20_test1"
PYTORCH_LINES = [
    "pid:12345", "use cuda:0", "['train.py', '--dataset', 'book', '--model_type', 'ComiRec-SA']",
    "hidden_size: 64", "interest_num: 4", "total user: 603668",
    "Please input the experiment name: training begin", PYTORCH_EXP,
    "iter: 1000, train loss: 8.0000, valid recall: 0.010000, valid ndcg: 0.008000, valid hitrate: 0.020000",
    "time interval: 0.5 min", PYTORCH_EXP,
    "iter: 2000, train loss: 7.0000, valid recall: 0.009000, valid ndcg: 0.007000, valid hitrate: 0.019000",
    "early stopping!", f"model loaded from best_model/{PYTORCH_EXP}/model.pt",
    "valid recall: 0.05, valid ndcg: 0.04, valid hitrate: 0.1, valid diversity: 0.2",
    "test recall: 0.051, test ndcg: 0.041, test hitrate: 0.11, test diversity: 0.21",
]
