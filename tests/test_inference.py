"""Tests of fossilct.inference: reading, preparation, prediction, the classify table, Grad-CAM.

Models are tiny untrained small_cnn networks; slices are synthetic discs and rings.
"""

import json

import cv2
import numpy as np
import pytest

from fossilct import images, inference, models, segmentation, training

CLASSES = ["disc_like", "ring_like", "other_like"]


def _disc(size=64, radius=18, value=210, hole=0):
    grid = np.hypot(*(np.indices((size, size)) - (size - 1) / 2))
    image = np.where(grid <= radius, value, 12).astype(np.uint8)
    image[grid <= hole] = 40
    return image


def _png(image) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    import keras

    keras.utils.set_random_seed(0)
    model = models.build_model("small_cnn", n_classes=len(CLASSES), input_size=32)
    training.save_training_outputs(folder, model, {"epoch": [0]}, CLASSES,
                                   {"image_size": 32, "slice_size": 48})
    return folder


@pytest.fixture(scope="module")
def classifier(model_dir):
    return inference.load_classifier(model_dir, abstention_threshold=0.9)


# --- preparation --------------------------------------------------------------------------

def test_to_gray_slice_keeps_an_8bit_ct_slice_as_it_is():
    image = _disc()
    assert inference.to_gray_slice(image) is image
    assert inference.to_gray_slice(image[:, :, None]).shape == image.shape


def test_to_gray_slice_inverts_a_light_background_and_scales_16_bit():
    light = 255 - _disc()
    gray = inference.to_gray_slice(light)
    assert gray[32, 32] > 200 and gray[0, 0] < 30
    deep = _disc().astype(np.uint16) * 250
    assert inference.to_gray_slice(deep).dtype == np.uint8


def test_to_gray_slice_refuses_a_constant_image():
    with pytest.raises(ValueError, match="constant"):
        inference.to_gray_slice(np.full((30, 30), 5.0))


def test_segment_for_model_maps_a_crop_back_to_the_whole_image():
    image = np.zeros((80, 80), np.uint8)
    image[10:30, 10:30] = 220   # left outside the crop
    image[45:70, 40:72] = 200
    whole = inference.segment_for_model(image, image_size=32)
    cropped = inference.segment_for_model(image, image_size=32, crop_box=(40, 35, 80, 80))
    assert cropped.bbox == (45, 40, 70, 72)
    assert cropped.mask.shape == image.shape and not cropped.mask[:35].any()
    assert cropped.foreground_fraction < whole.foreground_fraction


@pytest.mark.parametrize("box,match", [((0, 0, 10, 10), "smaller than 16"),
                                       ((0, 0, 100, 64), "not a box inside"),
                                       ((5, 5, 4, 40), "not a box inside"),
                                       ("abc", "must be \\(row0")])
def test_segment_for_model_refuses_a_bad_crop_box(box, match):
    with pytest.raises(ValueError, match=match):
        inference.segment_for_model(_disc(), image_size=32, crop_box=box)


def test_segment_for_model_refuses_an_offset_out_of_range():
    with pytest.raises(ValueError, match="threshold_offset"):
        inference.segment_for_model(_disc(), image_size=32, threshold_offset=2.0)


def test_segment_for_model_refuses_noise_and_a_frame_filling_object():
    noise = np.clip(np.random.default_rng(0).normal(100, 20, (64, 64)), 0, 255).astype(np.uint8)
    with pytest.raises(segmentation.NoFossilError, match="the slice is background"):
        inference.segment_for_model(noise, image_size=32)
    # a faint blob in strong noise, with a lowered threshold: segmented, but not a fossil
    grid = np.hypot(*(np.indices((96, 96)) - 47.5))
    faint = np.random.default_rng(0).normal(60, 25, (96, 96)) + 30 * (grid < 25)
    with pytest.raises(segmentation.NoFossilError, match="does not stand out of the noise"):
        inference.segment_for_model(np.clip(faint, 0, 255).astype(np.uint8), image_size=32,
                                    threshold_offset=-0.1)
    filled = _disc(size=64, radius=60, hole=8)
    with pytest.raises(segmentation.NoFossilError, match="touches all four borders"):
        inference.segment_for_model(filled, image_size=32)


def test_threshold_offset_is_the_sensitivity():
    image = _disc(hole=0)
    image[np.hypot(*(np.indices(image.shape) - 31.5)) > 24] = 12
    faint = np.hypot(*(np.indices(image.shape) - 31.5))
    image[(faint > 18) & (faint <= 24)] = 60   # a faint rim around the bright disc
    strict = inference.segment_for_model(image, image_size=32, threshold_offset=0.1)
    sensitive = inference.segment_for_model(image, image_size=32, threshold_offset=-0.3)
    assert sensitive.foreground_fraction > strict.foreground_fraction


# --- probabilities ------------------------------------------------------------------------

def test_summarise_probabilities_ranks_and_flags():
    s = inference.summarise_probabilities([0.1, 0.6, 0.3], CLASSES, abstention_threshold=0.5)
    assert s.species == ("ring_like", "other_like", "disc_like")
    assert s.probabilities.tolist() == [0.6, 0.3, 0.1]
    assert s.margin == pytest.approx(0.3) and s.uncertain is False
    assert inference.summarise_probabilities([1, 0, 0], CLASSES).entropy == 0.0
    assert inference.summarise_probabilities([1 / 3] * 3, CLASSES).entropy == pytest.approx(1.0)
    assert inference.summarise_probabilities([1 / 3] * 3, CLASSES).uncertain is None


@pytest.mark.parametrize("probs,names,threshold,match", [
    ([0.5, 0.5], CLASSES, None, "same length"),
    ([1.0], ["a"], None, "at least 2"),
    ([0.5, np.nan, 0.5], CLASSES, None, "finite and non-negative"),
    ([0.5, 0.5, 0.0], CLASSES, 1.5, "abstention_threshold"),
])
def test_summarise_probabilities_refuses_bad_input(probs, names, threshold, match):
    with pytest.raises(ValueError, match=match):
        inference.summarise_probabilities(probs, names, abstention_threshold=threshold)


# --- classifier and predictions -----------------------------------------------------------

def test_load_classifier_reads_the_folder(classifier):
    assert classifier.class_names == tuple(CLASSES)
    # images are segmented at the size of the training slices (48), not at the model input (32)
    assert classifier.image_size == 48 and classifier.abstention_threshold == 0.9


def test_load_classifier_errors(tmp_path, model_dir):
    with pytest.raises(FileNotFoundError, match="model.keras"):
        inference.load_classifier(tmp_path)
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "model.keras").write_bytes((model_dir / "model.keras").read_bytes())
    with pytest.raises(FileNotFoundError, match="class_names.json"):
        inference.load_classifier(copy)
    with pytest.raises(ValueError, match="2 class names for a model with 3 outputs"):
        inference.load_classifier(copy, class_names=["a", "b"])
    with pytest.raises(ValueError, match="abstention_threshold"):
        inference.load_classifier(model_dir, abstention_threshold=-0.1)
    assert inference.load_classifier(copy, class_names=CLASSES).image_size == 32
    assert inference.load_classifier(copy, class_names=CLASSES, image_size=48).image_size == 48


def test_read_abstention_threshold(tmp_path):
    path = tmp_path / "ensemble.json"
    path.write_text(json.dumps({"chosen": "soft", "specs": {"soft": {"abstention_threshold": 0.7}}}))
    assert inference.read_abstention_threshold(path) == 0.7
    path.write_text(json.dumps({"chosen": "soft", "specs": {"soft": {"abstention_threshold": None}}}))
    assert inference.read_abstention_threshold(path) is None
    path.write_text(json.dumps({"chosen": "x", "specs": {}}))
    with pytest.raises(ValueError, match="not an ensemble record"):
        inference.read_abstention_threshold(path)
    with pytest.raises(FileNotFoundError, match="run the ensemble step"):
        inference.read_abstention_threshold(tmp_path / "missing.json")


def test_predict_images_gives_the_model_output_of_the_segmented_slice(classifier):
    images = [_disc(), _disc(hole=9), np.full((40, 40), 7, np.uint8), np.zeros((5, 5, 5))]
    results = inference.predict_images(classifier, images, names=list("abcd"))
    assert [r.name for r in results] == list("abcd")
    assert [r.segmentable for r in results] == [True, True, False, False]
    assert "constant" in results[2].message and "not a usable image" in results[3].message
    direct = classifier.model.predict(results[1].model_input[None, :, :, None].astype("float32"),
                                      verbose=0)[0]
    ranked = dict(zip(results[1].summary.species, results[1].summary.probabilities))
    assert [ranked[c] for c in CLASSES] == pytest.approx(direct.tolist(), abs=1e-5)
    assert results[0].model_input.shape == (48, 48) and results[0].silhouette.shape == (64, 64)
    assert results[0].summary.uncertain is True   # an untrained model is never 90% sure


def test_predict_images_option_errors(classifier):
    with pytest.raises(ValueError, match="2 `images` but 1 `names`"):
        inference.predict_images(classifier, [_disc(), _disc()], names=["a"])
    with pytest.raises(ValueError, match="threshold_offset"):
        inference.predict_images(classifier, [_disc()], threshold_offset=-3)
    with pytest.raises(ValueError, match="not a box inside"):
        inference.predict_images(classifier, [_disc()], crop_boxes=[(0, 0, 99, 99)])


def test_classify_table_for_files_and_arrays(tmp_path, model_dir):
    good = tmp_path / "disc.png"
    good.write_bytes(_png(_disc()))
    blank = tmp_path / "blank.png"
    blank.write_bytes(_png(np.zeros((40, 40), np.uint8)))
    table = inference.classify([good, blank, _disc(hole=8)], model_dir)
    assert list(table.columns) == list(inference.RESULT_COLUMNS)
    per_file = table.groupby("file", sort=False)["rank"].apply(list).to_dict()
    assert per_file == {str(good): [1, 2, 3], str(blank): [0], "image_2": [1, 2, 3]}
    assert table.loc[table["file"] == str(good), "probability"].sum() == pytest.approx(1.0)
    assert not table.loc[table["file"] == str(blank), "segmentable"].item()


def test_classify_of_a_missing_or_unreadable_file(tmp_path, model_dir):
    with pytest.raises(FileNotFoundError):
        inference.classify(tmp_path / "missing.png", model_dir)
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(images.ImageError, match="not an image that can be read"):
        inference.classify(tmp_path / "notes.png", model_dir)


# --- Grad-CAM -----------------------------------------------------------------------------

def test_class_activation_map_follows_the_dense_weights(classifier):
    image = inference.segment_for_model(_disc(hole=8), image_size=32).image
    cams = [inference.class_activation_map(classifier, image, class_index=k) for k in range(3)]
    assert all(c.heatmap.shape == (32, 32) and c.overlay.shape == (32, 32, 3) for c in cams)
    assert all(0.0 <= c.heatmap.min() and c.heatmap.max() <= 1.0 for c in cams)
    assert [c.class_name for c in cams] == CLASSES
    assert not np.allclose(cams[0].heatmap, cams[1].heatmap)
    top = inference.class_activation_map(classifier, image)
    predicted = int(np.argmax(classifier.model.predict(image[None, :, :, None].astype("float32"),
                                                       verbose=0)))
    assert top.class_name == CLASSES[predicted]


def test_class_activation_map_errors(classifier):
    import keras

    image = np.zeros((32, 32), np.uint8)
    with pytest.raises(ValueError, match="outside 0..2"):
        inference.class_activation_map(classifier, image, class_index=3)
    with pytest.raises(ValueError, match="2-D model input"):
        inference.class_activation_map(classifier, image[None])
    with pytest.raises(ValueError, match="alpha"):
        inference.class_activation_map(classifier, image, alpha=2)
    inputs = keras.Input((None, None, 1))
    averaged = keras.layers.Average()([classifier.model(inputs), classifier.model(inputs)])
    ensemble = inference.Classifier(keras.Model(inputs, averaged), tuple(CLASSES), 32)
    with pytest.raises(ValueError, match="ensemble"):
        inference.class_activation_map(ensemble, image)


def test_an_ensemble_folder_needs_the_slice_size(tmp_path, classifier):
    import keras

    inputs = keras.Input((None, None, 1))
    averaged = keras.layers.Average()([classifier.model(inputs), classifier.model(inputs)])
    folder = tmp_path / "ensemble"
    folder.mkdir()
    keras.Model(inputs, averaged).save(folder / "model.keras")
    (folder / "class_names.json").write_text(json.dumps(CLASSES))
    with pytest.raises(ValueError, match="pass `image_size`"):
        inference.load_classifier(folder)
    loaded = inference.load_classifier(folder, image_size=32)
    [prediction] = inference.predict_images(loaded, [_disc()])
    assert prediction.segmentable and prediction.model_input.shape == (32, 32)


def test_a_slice_already_segmented_is_taken_as_it_is(classifier):
    stored = inference.segment_for_model(_disc(hole=8), image_size=48).image  # as the slice step
    again = inference.segment_for_model(stored, image_size=48)
    np.testing.assert_array_equal(again.image, stored)  # segmenting it again would change it
    assert again.bbox[0] > 0 and again.mask.sum() == (stored > 0).sum()
    smaller = inference.segment_for_model(stored, image_size=32)
    assert smaller.image.shape == (32, 32)
    framed = np.pad(stored, 3, constant_values=40)  # not a black border: segmented as usual
    assert inference.segment_for_model(framed, image_size=48).image.shape == (48, 48)
