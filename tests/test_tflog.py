"""fossilct.tflog: TensorFlow's C++ start-up lines are dropped from a descriptor, everything else
passes unchanged; in a notebook kernel started like the runner's, Python warnings stay visible."""

import logging
import os
import threading
import time

import nbformat
import pytest

from fossilct import tflog

PREAMBLE = tflog.ABSL_PREAMBLE + "\n"
ONEDNN = ("I0000 00:00:1796402040.723263   20074 port.cc:153] oneDNN custom operations are on. "
          "You may see slightly different numerical results.\n")
NODEDEF = ("E0000 00:00:1796402051.667590   20074 node_def_util.cc:682] NodeDef mentions attribute"
           " use_unbounded_threadpool which is not in the op definition: Op<name=MapDataset> This"
           " may be expected if your graph generating binary is newer  than this binary. Unknown "
           "attributes will be ignored. NodeDef: {{node ParallelMapDatasetV2/_4}}\n")
REAL_ERROR = "E0000 00:00:1796402051.7   20074 cuda_dnn.cc:9] Could not create cudnn handle\n"
FATAL = "F0000 00:00:1796402051.7   20074 check.cc:1] Check failed: x\n"
WARNING_LINE = "W0000 00:00:1796402051.7   20074 gpu_device.cc:2] Cannot dlopen some GPU libs\n"
PYTHON_WARNING = "/x/y.py:3: MissingSpacingWarning: no voxel spacing stored\n"


@pytest.mark.parametrize("line, level, noise", [
    (PREAMBLE, 0, True), (ONEDNN, 1, True), (ONEDNN, 0, False), (WARNING_LINE, 2, True),
    (WARNING_LINE, 1, False), (NODEDEF, 2, True), (NODEDEF, 0, True), (REAL_ERROR, 2, False),
    (REAL_ERROR, 3, True), (FATAL, 3, False), (PYTHON_WARNING, 3, False), ("\n", 3, False),
    ("Epoch 1/2\n", 3, False)])
def test_noise_follows_the_log_level_and_the_known_harmless_errors(line, level, noise):
    assert tflog.is_tensorflow_noise(line, min_log_level=level) is noise


@pytest.mark.parametrize("level", [-1, 4, True, "2", 2.0])
def test_a_bad_level_names_the_allowed_values(level):
    with pytest.raises(ValueError, match="must be 0, 1, 2 or 3"):
        tflog.is_tensorflow_noise("x", min_log_level=level)
    with pytest.raises(ValueError, match="TF_CPP_MIN_LOG_LEVEL"):
        tflog.filter_stderr(min_log_level=level)


def _filtered(writes, *, pause=0.0):
    """Send byte strings through a filter on a pipe; return what comes out the other side."""
    read_end, write_end = os.pipe()
    received = []
    reader = threading.Thread(target=lambda: received.extend(iter(
        lambda: os.read(read_end, 1 << 16), b"")))
    reader.start()  # as the kernel's capture does: the far end of the pipe is read meanwhile
    running = tflog.filter_stderr(min_log_level=2, fd=write_end)
    for chunk in writes:
        os.write(write_end, chunk)
        time.sleep(pause)
    running.stop()
    os.close(write_end)
    reader.join()
    os.close(read_end)
    return b"".join(received).decode()


def test_the_filter_drops_noise_and_passes_the_rest_in_order():
    text = "".join([PREAMBLE, ONEDNN, PYTHON_WARNING, NODEDEF, REAL_ERROR, "plain\n"])
    # split mid-line: lines are judged whole, however the writes cut them
    data = text.encode()
    assert _filtered([data[:30], data[30:200], data[200:]]) == PYTHON_WARNING + REAL_ERROR + \
        "plain\n"


def test_a_partial_line_is_not_held_back():
    assert _filtered([b"progress 50%"], pause=5 * tflog.FLUSH_SECONDS) == "progress 50%"


def test_much_output_does_not_block():
    lines = [f"line {i}\n".encode() for i in range(20000)] + [ONEDNN.encode()] * 1000
    out = _filtered(lines)
    assert out.count("\n") == 20000 and "oneDNN" not in out


@pytest.mark.slow
def test_a_kernel_started_like_the_runners_shows_warnings_not_tensorflow_noise(
        tmp_path, monkeypatch, caplog):
    import papermill

    monkeypatch.setenv("PYTHONSTARTUP", str(tflog.KERNEL_STARTUP))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in (
        "import numpy as np\nimport tensorflow as tf\nfrom fossilct import volumes",
        "print([n for n in dir() if not n.startswith('_') and n not in "
        "('In', 'Out', 'exit', 'quit', 'get_ipython', 'open')])",
        f"np.save({str(tmp_path / 'v.npy')!r}, np.random.default_rng(0).random((4, 16, 16)))\n"
        f"volumes.load_volume({str(tmp_path / 'v.npy')!r}).data.shape",
    )]
    nbformat.write(notebook, tmp_path / "in.ipynb")
    with caplog.at_level(logging.INFO, logger="papermill"):
        papermill.execute_notebook(str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"),
                                   kernel_name="python3", log_output=True, progress_bar=False)
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    streams = "".join(o.get("text", "") for c in executed.cells for o in c.outputs)
    logged = caplog.text
    for text in (streams, logged):
        assert "MissingSpacingWarning" in text  # the fossilct warning is shown and logged
        assert "absl::InitializeLog" not in text and "oneDNN" not in text
    assert "['np', 'tf', 'volumes']" in streams  # the start-up file defined no name there
