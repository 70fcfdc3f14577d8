//! Dataset readers on tiny trees built here, in the layouts of the real downloads
//! (docs/DATASETS.md). The Flowers102 / Stanford Cars annotation files come from
//! tests/reference/make_mat_fixtures.py (scipy.io.savemat).

use std::path::{Path, PathBuf};

use ssr2_data::image::{Rgb, RgbImage};
use ssr2_data::{
    DataError, ImageList, ImageSource, OpenOptions, encode_png, image_dataset_names, known_split,
    load_rgb, open_image_dataset, open_image_test_set,
};

/// A fresh, empty directory under the system temp dir.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ssr2-data-images-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
fn mat_fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/reference/mat")
        .join(rel)
}
/// A small image whose pixels encode `tag`.
fn tagged(tag: u8) -> RgbImage {
    RgbImage::from_fn(3, 2, |x, y| Rgb([tag, x as u8 * 10, y as u8 * 20]))
}
fn write_png(path: &Path, img: &RgbImage) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, encode_png(img).unwrap()).unwrap();
}
fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}
fn open(name: &str, root: &Path) -> Result<ImageList, DataError> {
    open_image_dataset(name, root, &OpenOptions::default())
}
fn err(r: Result<ImageList, DataError>) -> String {
    r.map(|l| l.items.len()).unwrap_err().to_string()
}
/// SPEC §1 remapping computed from the class list alone: old classes in listed order, then the
/// rest ascending.
fn remap(old: &[usize], k: usize, y: usize) -> usize {
    assert!(y < k);
    match old.iter().position(|&o| o == y) {
        Some(i) => i,
        None => old.len() + (0..y).filter(|c| !old.contains(c)).count(),
    }
}
/// Checks the labelled mask: floor(fraction * old samples), old-class samples only.
fn check_split(list: &ImageList) {
    let old = list
        .items
        .iter()
        .filter(|it| it.label < list.num_old)
        .count();
    let n = list.labelled.iter().filter(|&&l| l).count();
    assert_eq!(n, old / 2, "{}: labelled count", list.name);
    for (it, &l) in list.items.iter().zip(&list.labelled) {
        assert!(
            !l || it.label < list.num_old,
            "{}: new class labelled",
            list.name
        );
    }
}

#[test]
fn names_are_listed() {
    let names = image_dataset_names();
    for n in [
        "imagefolder",
        "cifar10",
        "cifar100",
        "oxford_pets",
        "flowers102",
        "cub200",
    ] {
        assert!(names.contains(&n), "{n}");
    }
    assert!(names.contains(&"stanford_cars") && names.contains(&"imagenet100"));
    let e = err(open("mnist", &scratch("names")));
    assert!(e.contains("mnist") && e.contains("cifar100"), "{e}");
}

#[test]
fn imagefolder_sorted_classes_and_files() {
    let root = scratch("folder");
    // Classes c, a, b on disk -> a, b, c; extensions case-insensitive; nested files count and
    // come after the files of their parent folder, as in torchvision's sorted(os.walk(...)).
    write_png(&root.join("c/2.PNG"), &tagged(1));
    write_png(&root.join("a/z.png"), &tagged(2));
    write_png(&root.join("a/b.Png"), &tagged(3));
    write_png(&root.join("a/sub/x.png"), &tagged(4));
    write_png(&root.join("b/one.bmp.png"), &tagged(5));
    write_png(&root.join("b/two.png"), &tagged(6));
    write(&root.join("b/notes.txt"), "not an image");
    let list = open("imagefolder", &root).unwrap();
    assert_eq!(list.class_names, ["a", "b", "c"]);
    let ids: Vec<&str> = list.items.iter().map(|it| it.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "a/b.Png",
            "a/z.png",
            "a/sub/x.png",
            "b/one.bmp.png",
            "b/two.png",
            "c/2.PNG"
        ]
    );
    let labels: Vec<usize> = list.items.iter().map(|it| it.label).collect();
    assert_eq!(labels, [0, 0, 0, 1, 1, 2]);
    // Default: half of 3 classes (rounded down) are old.
    assert_eq!(list.num_old, 1);
    check_split(&list);
    let tags: Vec<u8> = list
        .items
        .iter()
        .map(|it| load_rgb(&it.source).unwrap().get_pixel(0, 0).0[0])
        .collect();
    assert_eq!(tags, [3, 2, 4, 5, 6, 1]);
    assert_eq!(load_rgb(&list.items[0].source).unwrap(), tagged(3));

    let two = OpenOptions {
        num_old: Some(2),
        ..Default::default()
    };
    let list2 = open_image_dataset("imagefolder", &root, &two).unwrap();
    assert_eq!(list2.num_old, 2);
    check_split(&list2);
    assert_eq!(list2.labelled.iter().filter(|&&l| l).count(), 2);
    let all = OpenOptions {
        num_old: Some(3),
        labelled_fraction: 1.0,
        split_seed: 5,
    };
    let list3 = open_image_dataset("imagefolder", &root, &all).unwrap();
    assert!(list3.labelled.iter().all(|&l| l));

    let four = OpenOptions {
        num_old: Some(4),
        ..Default::default()
    };
    let e = open_image_dataset("imagefolder", &root, &four)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("num_old") && e.contains("4") && e.contains("3"),
        "{e}"
    );
    std::fs::create_dir_all(root.join("d_empty")).unwrap();
    let e = err(open("imagefolder", &root));
    assert!(e.contains("d_empty") && e.contains("no image files"), "{e}");
}

#[test]
fn undecodable_and_missing_images_are_named() {
    let root = scratch("bad");
    write(&root.join("cls/bad.png"), "this is not a PNG");
    let list = open("imagefolder", &root).unwrap();
    let e = load_rgb(&list.items[0].source).unwrap_err().to_string();
    assert!(e.contains("bad.png") && e.contains("cannot decode"), "{e}");
    let e = load_rgb(&ImageSource::File(root.join("gone.jpg")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("gone.jpg"), "{e}");
    let e = load_rgb(&ImageSource::Rgb {
        width: 2,
        height: 2,
        pixels: vec![0u8; 11].into(),
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("11") && e.contains("12"), "{e}");
    let e = err(open("imagefolder", &root.join("nope")));
    assert!(e.contains("nope") && e.contains("not a directory"), "{e}");
}

/// Walks end: a symlink back to a folder above is a cycle, refused by name; a symlinked folder
/// elsewhere is followed (as torchvision does); a FIFO named like an image is refused, never
/// opened (it would block).
#[cfg(unix)]
#[test]
fn symlink_cycles_and_fifos_are_refused() {
    let root = scratch("walk");
    write_png(&root.join("a/x.png"), &tagged(1));
    write_png(&root.join("elsewhere/y.png"), &tagged(2));
    std::os::unix::fs::symlink(root.join("elsewhere"), root.join("a/linked")).unwrap();
    let list = open("imagefolder", &root).unwrap();
    let ids: Vec<&str> = list.items.iter().map(|i| i.id.as_str()).collect();
    assert!(ids.contains(&"a/linked/y.png") && ids.contains(&"a/x.png"), "{ids:?}");
    std::os::unix::fs::symlink(root.join("a"), root.join("a/loop")).unwrap();
    let e = err(open("imagefolder", &root));
    assert!(e.contains("loop") && e.contains("a cycle"), "{e}");
    std::fs::remove_file(root.join("a/loop")).unwrap();
    // Two links that reach each other: a/to-b -> b, b/to-a -> a.
    write_png(&root.join("b/z.png"), &tagged(3));
    std::os::unix::fs::symlink(root.join("b"), root.join("a/to-b")).unwrap();
    std::os::unix::fs::symlink(root.join("a"), root.join("b/to-a")).unwrap();
    let e = err(open("imagefolder", &root));
    assert!(e.contains("a cycle"), "{e}");
    std::fs::remove_file(root.join("b/to-a")).unwrap();
    let fifo = root.join("a/pipe.png");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let e = err(open("imagefolder", &root));
    assert!(e.contains("pipe.png") && e.contains("not a regular file"), "{e}");
}

/// A header announcing more pixels than the budget is refused from the header alone, before any
/// decoding or resizing (a BMP of 9000 x 9000 with no pixel data at all).
#[test]
fn images_beyond_the_pixel_budget_are_refused_before_decoding() {
    let mut bmp = Vec::new();
    bmp.extend(b"BM");
    bmp.extend(54u32.to_le_bytes());
    bmp.extend([0u8; 4]);
    bmp.extend(54u32.to_le_bytes());
    bmp.extend(40u32.to_le_bytes());
    bmp.extend(9000i32.to_le_bytes());
    bmp.extend(9000i32.to_le_bytes());
    bmp.extend(1u16.to_le_bytes());
    bmp.extend(24u16.to_le_bytes());
    bmp.extend([0u8; 24]);
    let e = ssr2_data::decode_rgb(&bmp, "huge.bmp").unwrap_err().to_string();
    assert!(e.contains("huge.bmp") && e.contains("9000 x 9000 = 81000000 pixels"), "{e}");
}

#[test]
fn jpeg_files_decode() {
    let root = scratch("jpeg");
    let img = RgbImage::from_pixel(16, 8, Rgb([200, 100, 50]));
    let mut bytes = Vec::new();
    ssr2_data::image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95)
        .encode_image(&img)
        .unwrap();
    write(&root.join("c/x.JPEG"), "");
    std::fs::write(root.join("c/x.JPEG"), &bytes).unwrap();
    let list = open("imagefolder", &root).unwrap();
    let got = load_rgb(&list.items[0].source).unwrap();
    assert_eq!(got.dimensions(), (16, 8));
    // Lossy, but a flat colour survives within a couple of levels.
    for p in got.pixels() {
        for (a, b) in p.0.iter().zip([200u8, 100, 50]) {
            assert!(a.abs_diff(b) <= 3, "{:?}", p.0);
        }
    }
}

/// A CIFAR record: label bytes then CHW planes with R = index + 10 * x, G = y, B = 255 - x.
fn cifar_record(labels: &[u8], index: u8) -> Vec<u8> {
    let mut r = labels.to_vec();
    for c in 0..3 {
        for y in 0..32u8 {
            for x in 0..32u8 {
                r.push(match c {
                    0 => index.wrapping_add(x.wrapping_mul(10)),
                    1 => y,
                    _ => 255 - x,
                });
            }
        }
    }
    r
}

#[test]
fn cifar10_batches() {
    let root = scratch("cifar10");
    let dir = root.join("cifar-10-batches-bin");
    let names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
    write(&dir.join("batches.meta.txt"), names);
    let labels = [3u8, 9, 0, 5, 7, 7, 1, 4, 2, 8];
    for b in 0..5 {
        let mut bytes = cifar_record(&[labels[2 * b]], 2 * b as u8);
        bytes.extend(cifar_record(&[labels[2 * b + 1]], 2 * b as u8 + 1));
        std::fs::write(dir.join(format!("data_batch_{}.bin", b + 1)), bytes).unwrap();
    }
    let list = open("cifar10", &root).unwrap();
    assert_eq!(list.class_names[0], "airplane");
    assert_eq!(list.class_names[9], "truck");
    assert_eq!(list.num_old, 5);
    let got: Vec<usize> = list.items.iter().map(|it| it.label).collect();
    assert_eq!(got, labels.map(usize::from));
    assert_eq!(list.items[7].id, "train/00007");
    check_split(&list);
    let img = load_rgb(&list.items[7].source).unwrap();
    assert_eq!(img.dimensions(), (32, 32));
    assert_eq!(img.get_pixel(3, 5).0, [7 + 30, 5, 252]);
    assert_eq!(
        img.get_pixel(31, 0).0,
        [7u8.wrapping_add(310u16 as u8), 0, 224]
    );
    // The batches folder itself works as root too.
    assert_eq!(open("cifar10", &dir).unwrap().items.len(), 10);

    std::fs::write(dir.join("data_batch_4.bin"), vec![0u8; 3072]).unwrap();
    let e = err(open("cifar10", &root));
    assert!(e.contains("data_batch_4.bin") && e.contains("3073"), "{e}");
    std::fs::remove_file(dir.join("data_batch_4.bin")).unwrap();
    let e = err(open("cifar10", &root));
    assert!(e.contains("data_batch_4.bin"), "{e}");
    std::fs::write(dir.join("data_batch_4.bin"), cifar_record(&[10], 0)).unwrap();
    let e = err(open("cifar10", &root));
    assert!(
        e.contains("data_batch_4.bin") && e.contains("label 10"),
        "{e}"
    );
}

#[test]
fn cifar100_fine_labels() {
    let root = scratch("cifar100");
    let dir = root.join("cifar-100-binary");
    let names: String = (0..100).map(|i| format!("fine{i}\n")).collect();
    write(&dir.join("fine_label_names.txt"), &names);
    let mut bytes = cifar_record(&[4, 85], 0);
    bytes.extend(cifar_record(&[1, 3], 1));
    bytes.extend(cifar_record(&[19, 99], 2));
    std::fs::write(dir.join("train.bin"), bytes).unwrap();
    let list = open("cifar100", &root).unwrap();
    let old = known_split("cifar100").unwrap().old;
    let got: Vec<usize> = list.items.iter().map(|it| it.label).collect();
    let want: Vec<usize> = [85, 3, 99].iter().map(|&y| remap(&old, 100, y)).collect();
    assert_eq!(got, want);
    assert_eq!(list.class_names[remap(&old, 100, 85)], "fine85");
    assert_eq!(list.num_old, 80);
    assert_eq!(
        load_rgb(&list.items[2].source).unwrap().get_pixel(1, 0).0,
        [12, 0, 254]
    );
    write(&dir.join("fine_label_names.txt"), "a\nb\n");
    let e = err(open("cifar100", &root));
    assert!(
        e.contains("fine_label_names.txt") && e.contains("expected 100"),
        "{e}"
    );
}

#[test]
fn oxford_pets_trainval() {
    let root = scratch("pets");
    let lines = "Abyssinian_100 1 1 1\nyorkshire_terrier_9 37 2 25\n\
                 american_bulldog_10 2 2 1\nAbyssinian_101 1 1 1\n";
    write(&root.join("annotations/trainval.txt"), lines);
    for n in [
        "Abyssinian_100",
        "yorkshire_terrier_9",
        "american_bulldog_10",
        "Abyssinian_101",
    ] {
        write_png(&root.join(format!("images/{n}.jpg")), &tagged(0));
    }
    let list = open("oxford_pets", &root).unwrap();
    let old = known_split("oxford_pets").unwrap().old;
    let got: Vec<usize> = list.items.iter().map(|it| it.label).collect();
    let want: Vec<usize> = [0, 36, 1, 0].iter().map(|&y| remap(&old, 37, y)).collect();
    assert_eq!(got, want);
    assert_eq!(list.class_names.len(), 37);
    assert_eq!(list.class_names[remap(&old, 37, 36)], "yorkshire terrier");
    assert_eq!(list.class_names[remap(&old, 37, 1)], "american bulldog");
    assert_eq!(list.class_names[remap(&old, 37, 5)], "6");
    assert_eq!(list.items[1].id, "images/yorkshire_terrier_9.jpg");
    check_split(&list);

    std::fs::remove_file(root.join("images/american_bulldog_10.jpg")).unwrap();
    let e = err(open("oxford_pets", &root));
    assert!(
        e.contains("american_bulldog_10.jpg") && e.contains("trainval.txt"),
        "{e}"
    );
    write(
        &root.join("annotations/trainval.txt"),
        "Abyssinian_100 38 1 1\n",
    );
    let e = err(open("oxford_pets", &root));
    assert!(e.contains("trainval.txt:1") && e.contains("38"), "{e}");
    std::fs::remove_file(root.join("annotations/trainval.txt")).unwrap();
    let e = err(open("oxford_pets", &root));
    assert!(e.contains("trainval.txt"), "{e}");
}

#[test]
fn flowers102_train_split() {
    let root = scratch("flowers");
    for f in ["imagelabels.mat", "setid.mat"] {
        std::fs::copy(mat_fixture(&format!("flowers102/{f}")), root.join(f)).unwrap();
    }
    for id in [2, 3, 4, 6, 8] {
        write_png(&root.join(format!("jpg/image_{id:05}.jpg")), &tagged(id));
    }
    let list = open("flowers102", &root).unwrap();
    // make_mat_fixtures.py: labels [1, 60, 1, 102, 52, 51, 60, 2], trnid [8, 2, 3, 4, 6].
    let old = known_split("flowers102").unwrap().old;
    let got: Vec<usize> = list.items.iter().map(|it| it.label).collect();
    let want: Vec<usize> = [1, 59, 0, 101, 50]
        .iter()
        .map(|&y| remap(&old, 102, y))
        .collect();
    assert_eq!(got, want);
    let ids: Vec<&str> = list.items.iter().map(|it| it.id.as_str()).collect();
    assert_eq!(ids[0], "jpg/image_00008.jpg");
    assert_eq!(list.class_names[remap(&old, 102, 59)], "60");
    assert_eq!(
        load_rgb(&list.items[0].source).unwrap().get_pixel(0, 0).0[0],
        8
    );
    check_split(&list);

    std::fs::remove_file(root.join("jpg/image_00006.jpg")).unwrap();
    let e = err(open("flowers102", &root));
    assert!(
        e.contains("image_00006.jpg") && e.contains("setid.mat"),
        "{e}"
    );
    std::fs::remove_file(root.join("setid.mat")).unwrap();
    let e = err(open("flowers102", &root));
    assert!(e.contains("setid.mat"), "{e}");
}

#[test]
fn stanford_cars_devkit() {
    let root = scratch("cars");
    for f in ["cars_meta.mat", "cars_train_annos.mat"] {
        let dst = root.join("devkit").join(f);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(mat_fixture(&format!("stanford_cars/{f}")), dst).unwrap();
    }
    for i in 1..=5u8 {
        write_png(&root.join(format!("cars_train/{i:05}.jpg")), &tagged(i));
    }
    let list = open("stanford_cars", &root).unwrap();
    // make_mat_fixtures.py: classes 14, 99, 1, 196, 14; names "Car Model {i} 20{(i-1) % 13:02}".
    let old = known_split("stanford_cars").unwrap().old;
    let got: Vec<usize> = list.items.iter().map(|it| it.label).collect();
    let want: Vec<usize> = [13, 98, 0, 195, 13]
        .iter()
        .map(|&y| remap(&old, 196, y))
        .collect();
    assert_eq!(got, want);
    assert_eq!(list.class_names[remap(&old, 196, 98)], "Car Model 99 2007");
    assert_eq!(
        list.class_names[remap(&old, 196, 195)],
        "Car Model 196 2000"
    );
    assert_eq!(list.items[3].id, "cars_train/00004.jpg");
    assert_eq!(list.num_old, 98);
    check_split(&list);
    std::fs::remove_file(root.join("devkit/cars_meta.mat")).unwrap();
    let e = err(open("stanford_cars", &root));
    assert!(e.contains("cars_meta.mat"), "{e}");
}

#[test]
fn cub200_official_train() {
    let root = scratch("cub");
    let dir = root.join("CUB_200_2011");
    let classes: String = (1..=200)
        .map(|i| format!("{i} {i:03}.Bird_number_{i}\n"))
        .collect();
    write(&dir.join("classes.txt"), &classes);
    let imgs = [(1, 1, 1), (2, 1, 0), (3, 200, 1), (4, 6, 1), (5, 2, 1)];
    let mut images = String::new();
    let mut labels = String::new();
    let mut split = String::new();
    for (id, c, train) in imgs {
        let rel = format!("{c:03}.Bird_number_{c}/Bird_{id}.jpg");
        images += &format!("{id} {rel}\n");
        labels += &format!("{id} {c}\n");
        split += &format!("{id} {train}\n");
        write_png(&dir.join("images").join(&rel), &tagged(id));
    }
    write(&dir.join("images.txt"), &images);
    write(&dir.join("image_class_labels.txt"), &labels);
    write(&dir.join("train_test_split.txt"), &split);
    let list = open("cub200", &root).unwrap();
    let old = known_split("cub200").unwrap().old;
    let got: Vec<usize> = list.items.iter().map(|it| it.label).collect();
    let want: Vec<usize> = [0, 199, 5, 1]
        .iter()
        .map(|&y| remap(&old, 200, y))
        .collect();
    assert_eq!(got, want);
    assert_eq!(list.items[1].id, "images/200.Bird_number_200/Bird_3.jpg");
    assert_eq!(list.class_names[remap(&old, 200, 5)], "Bird number 6");
    assert_eq!(
        load_rgb(&list.items[2].source).unwrap().get_pixel(0, 0).0[0],
        4
    );
    check_split(&list);

    write(&dir.join("train_test_split.txt"), "1 1\n2 0\n3 1\n4 1\n");
    let e = err(open("cub200", &root));
    assert!(
        e.contains("images.txt:5") && e.contains("train_test_split.txt"),
        "{e}"
    );
    std::fs::remove_file(dir.join("classes.txt")).unwrap();
    let e = err(open("cub200", &root));
    assert!(e.contains("classes.txt"), "{e}");
}

#[test]
fn imagenet100_subset_of_sorted_wnids() {
    let root = scratch("in100");
    let subset = known_split("imagenet100").unwrap().subset.unwrap();
    for i in 0..1000 {
        std::fs::create_dir_all(root.join(format!("n{i:08}"))).unwrap();
    }
    // One image in each subset folder, plus one outside the subset that must not appear.
    for (j, &i) in subset.iter().enumerate() {
        write_png(&root.join(format!("n{i:08}/img_{j}.png")), &tagged(j as u8));
    }
    let outside = (0..1000).find(|i| !subset.contains(i)).unwrap();
    write_png(&root.join(format!("n{outside:08}/x.png")), &tagged(0));
    let list = open("imagenet100", &root).unwrap();
    assert_eq!(list.items.len(), 100);
    let old = known_split("imagenet100").unwrap().old;
    for (j, &i) in subset.iter().enumerate() {
        let it = list
            .items
            .iter()
            .find(|it| it.id == format!("n{i:08}/img_{j}.png"))
            .unwrap();
        assert_eq!(it.label, remap(&old, 100, j));
        assert_eq!(list.class_names[it.label], format!("n{i:08}"));
    }
    std::fs::remove_dir_all(root.join("n00000999")).unwrap();
    let e = err(open("imagenet100", &root));
    assert!(e.contains("999 class folders") && e.contains("1000"), "{e}");
}

/// The official test split of each benchmark: labels remapped as the train set's (matched by
/// class name), nothing labelled, ids naming the test files.
#[test]
fn test_splits_share_the_train_remap() {
    let test_of = |name: &str, root: &Path, test_root: Option<&Path>| {
        let train = open(name, root).unwrap();
        let test = open_image_test_set(name, root, test_root, &train).unwrap();
        (train, test)
    };
    let labels = |l: &ImageList| -> Vec<usize> { l.items.iter().map(|it| it.label).collect() };

    // CIFAR-10: test_batch.bin, ids test/N.
    let root = scratch("cifar10-test");
    let dir = root.join("cifar-10-batches-bin");
    write(
        &dir.join("batches.meta.txt"),
        "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n",
    );
    for b in 1..=5 {
        std::fs::write(
            dir.join(format!("data_batch_{b}.bin")),
            cifar_record(&[b], b),
        )
        .unwrap();
    }
    let mut bytes = cifar_record(&[9], 0);
    bytes.extend(cifar_record(&[0], 1));
    std::fs::write(dir.join("test_batch.bin"), bytes).unwrap();
    let (train, test) = test_of("cifar10", &root, None);
    let test = test.unwrap();
    let old = known_split("cifar10").unwrap().old;
    assert_eq!(labels(&test), vec![remap(&old, 10, 9), remap(&old, 10, 0)]);
    assert_eq!(test.items[1].id, "test/00001");
    assert_eq!(test.class_names, train.class_names);
    assert!(test.labelled.iter().all(|&l| !l));
    std::fs::remove_file(dir.join("test_batch.bin")).unwrap();
    let e = open_image_test_set("cifar10", &root, None, &train).unwrap_err();
    assert!(e.to_string().contains("test_batch.bin"), "{e}");

    // CUB: train_test_split.txt = 0.
    let root = scratch("cub-test");
    let dir = root.join("CUB_200_2011");
    let classes: String = (1..=200).map(|i| format!("{i} {i:03}.B_{i}\n")).collect();
    write(&dir.join("classes.txt"), &classes);
    let (mut images, mut cls, mut split) = (String::new(), String::new(), String::new());
    for (id, c, train) in [(1, 1, 1), (2, 7, 0), (3, 200, 0), (4, 2, 1)] {
        let rel = format!("{c:03}.B_{c}/x_{id}.jpg");
        images += &format!("{id} {rel}\n");
        cls += &format!("{id} {c}\n");
        split += &format!("{id} {train}\n");
        write_png(&dir.join("images").join(&rel), &tagged(id));
    }
    write(&dir.join("images.txt"), &images);
    write(&dir.join("image_class_labels.txt"), &cls);
    write(&dir.join("train_test_split.txt"), &split);
    let (train, test) = test_of("cub200", &root, None);
    let test = test.unwrap();
    let old = known_split("cub200").unwrap().old;
    assert_eq!(train.items.len(), 2);
    assert_eq!(
        labels(&test),
        vec![remap(&old, 200, 6), remap(&old, 200, 199)]
    );
    assert_eq!(test.items[0].id, "images/007.B_7/x_2.jpg");

    // Pets: annotations/test.txt.
    let root = scratch("pets-test");
    write(
        &root.join("annotations/trainval.txt"),
        "Abyssinian_1 1 1 1\nbeagle_2 3 2 2\n",
    );
    write(&root.join("annotations/test.txt"), "beagle_7 3 2 2\n");
    for n in ["Abyssinian_1", "beagle_2", "beagle_7"] {
        write_png(&root.join(format!("images/{n}.jpg")), &tagged(0));
    }
    let (train, test) = test_of("oxford_pets", &root, None);
    let test = test.unwrap();
    assert_eq!(test.items[0].label, train.items[1].label);
    assert_eq!(test.items[0].id, "images/beagle_7.jpg");

    // Flowers: tstid [5, 7] of make_mat_fixtures.py, labels 52 and 60.
    let root = scratch("flowers-test");
    for f in ["imagelabels.mat", "setid.mat"] {
        std::fs::copy(mat_fixture(&format!("flowers102/{f}")), root.join(f)).unwrap();
    }
    for id in [2, 3, 4, 5, 6, 7, 8] {
        write_png(&root.join(format!("jpg/image_{id:05}.jpg")), &tagged(id));
    }
    let (_, test) = test_of("flowers102", &root, None);
    let test = test.unwrap();
    let old = known_split("flowers102").unwrap().old;
    assert_eq!(
        labels(&test),
        vec![remap(&old, 102, 51), remap(&old, 102, 59)]
    );
    assert_eq!(test.items[1].id, "jpg/image_00007.jpg");

    // Cars: devkit/cars_test_annos_withlabels.mat and cars_test/.
    let root = scratch("cars-test");
    let devkit = root.join("devkit");
    std::fs::create_dir_all(&devkit).unwrap();
    std::fs::copy(
        mat_fixture("stanford_cars/cars_meta.mat"),
        devkit.join("cars_meta.mat"),
    )
    .unwrap();
    for f in ["cars_train_annos.mat", "cars_test_annos_withlabels.mat"] {
        std::fs::copy(
            mat_fixture("stanford_cars/cars_train_annos.mat"),
            devkit.join(f),
        )
        .unwrap();
    }
    for i in 1..=5u8 {
        for folder in ["cars_train", "cars_test"] {
            write_png(&root.join(format!("{folder}/{i:05}.jpg")), &tagged(i));
        }
    }
    let (train, test) = test_of("stanford_cars", &root, None);
    let test = test.unwrap();
    assert_eq!(labels(&test), labels(&train));
    assert_eq!(test.items[3].id, "cars_test/00004.jpg");

    // imagefolder: a test root with (some of) the same class folders; none without one.
    let root = scratch("folder-test");
    for (c, f) in [("cat", "a"), ("dog", "b"), ("emu", "c"), ("fox", "d")] {
        write_png(&root.join(format!("train/{c}/{f}.png")), &tagged(0));
    }
    write_png(&root.join("test/emu/z.png"), &tagged(1));
    write_png(&root.join("test/cat/y.png"), &tagged(2));
    let (train, test) = test_of("imagefolder", &root.join("train"), Some(&root.join("test")));
    let test = test.unwrap();
    let name = |l: &ImageList, i: usize| l.class_names[l.items[i].label].clone();
    assert_eq!(
        (name(&test, 0), name(&test, 1)),
        ("cat".into(), "emu".into())
    );
    assert_eq!(test.items[1].id, "emu/z.png");
    assert!(
        open_image_test_set("imagefolder", &root.join("train"), None, &train)
            .unwrap()
            .is_none()
    );
    write_png(&root.join("test/gnu/w.png"), &tagged(3));
    let e = open_image_test_set(
        "imagefolder",
        &root.join("train"),
        Some(&root.join("test")),
        &train,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("gnu") && e.contains("train set does not have"),
        "{e}"
    );
}
