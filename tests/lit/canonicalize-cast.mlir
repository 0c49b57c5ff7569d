// RUN: canonicalize

// A cast to the operand's own dtype disappears; a chain through an exact (widening) cast is one
// cast, and a chain back to the source dtype disappears.
// CHECK-LABEL: func.func @exact_chains
// CHECK: [[D:%\d+]] = "tir.cast"(%arg1) {dtype = f64} : (tensor<4xi16>) -> tensor<4xf64>
// CHECK-NOT: "tir.cast"
// CHECK: "func.return"(%arg0, %arg0, [[D]], %arg1)
func.func @exact_chains(%arg0: tensor<4xf16>, %arg1: tensor<4xi16>) -> (tensor<4xf16>, tensor<4xf16>, tensor<4xf64>, tensor<4xi16>) {
  %0 = "tir.cast"(%arg0) {dtype = f16} : (tensor<4xf16>) -> tensor<4xf16>
  %1 = "tir.cast"(%arg0) {dtype = f64} : (tensor<4xf16>) -> tensor<4xf64>
  %2 = "tir.cast"(%1) {dtype = f16} : (tensor<4xf64>) -> tensor<4xf16>
  %3 = "tir.cast"(%arg1) {dtype = i64} : (tensor<4xi16>) -> tensor<4xi64>
  %4 = "tir.cast"(%3) {dtype = f64} : (tensor<4xi64>) -> tensor<4xf64>
  %5 = "tir.cast"(%arg1) {dtype = f32} : (tensor<4xi16>) -> tensor<4xf32>
  %6 = "tir.cast"(%5) {dtype = i16} : (tensor<4xf32>) -> tensor<4xi16>
  "func.return"(%0, %2, %4, %6) : (tensor<4xf16>, tensor<4xf16>, tensor<4xf64>, tensor<4xi16>) -> ()
}

// -----

// Narrowing first changes values: f64 -> f32 -> f64 rounds, i32 -> i8 -> i32 wraps,
// i32 -> f32 -> i64 rounds, i8 -> u8 -> i16 wraps negatives, f32 -> f64 -> i8 may be out of range.
// CHECK-LABEL: func.func @inexact_chains
// CHECK: "tir.cast"(%arg0) {dtype = f32}
// CHECK-NEXT: "tir.cast"({{%\d+}}) {dtype = f64}
// CHECK-NEXT: "tir.cast"(%arg1) {dtype = i8}
// CHECK-NEXT: "tir.cast"({{%\d+}}) {dtype = i32}
// CHECK-NEXT: "tir.cast"(%arg1) {dtype = f32}
// CHECK-NEXT: "tir.cast"({{%\d+}}) {dtype = i64}
// CHECK-NEXT: "tir.cast"(%arg2) {dtype = ui8}
// CHECK-NEXT: "tir.cast"({{%\d+}}) {dtype = i16}
// CHECK-NEXT: "tir.cast"(%arg3) {dtype = f64}
// CHECK-NEXT: "tir.cast"({{%\d+}}) {dtype = i8}
func.func @inexact_chains(%arg0: tensor<4xf64>, %arg1: tensor<4xi32>, %arg2: tensor<4xi8>, %arg3: tensor<4xf32>) -> (tensor<4xf64>, tensor<4xi32>, tensor<4xi64>, tensor<4xi16>, tensor<4xi8>) {
  %0 = "tir.cast"(%arg0) {dtype = f32} : (tensor<4xf64>) -> tensor<4xf32>
  %1 = "tir.cast"(%0) {dtype = f64} : (tensor<4xf32>) -> tensor<4xf64>
  %2 = "tir.cast"(%arg1) {dtype = i8} : (tensor<4xi32>) -> tensor<4xi8>
  %3 = "tir.cast"(%2) {dtype = i32} : (tensor<4xi8>) -> tensor<4xi32>
  %4 = "tir.cast"(%arg1) {dtype = f32} : (tensor<4xi32>) -> tensor<4xf32>
  %5 = "tir.cast"(%4) {dtype = i64} : (tensor<4xf32>) -> tensor<4xi64>
  %6 = "tir.cast"(%arg2) {dtype = ui8} : (tensor<4xi8>) -> tensor<4xui8>
  %7 = "tir.cast"(%6) {dtype = i16} : (tensor<4xui8>) -> tensor<4xi16>
  %8 = "tir.cast"(%arg3) {dtype = f64} : (tensor<4xf32>) -> tensor<4xf64>
  %9 = "tir.cast"(%8) {dtype = i8} : (tensor<4xf64>) -> tensor<4xi8>
  "func.return"(%1, %3, %5, %7, %9) : (tensor<4xf64>, tensor<4xi32>, tensor<4xi64>, tensor<4xi16>, tensor<4xi8>) -> ()
}

// -----

// bool widens exactly to anything; i8 -> f16 is exact (|i8| <= 2048), so the chain is one cast.
// CHECK-LABEL: func.func @exact_to_float
// CHECK: "tir.cast"(%arg0) {dtype = i32} : (tensor<4xi1>) -> tensor<4xi32>
// CHECK-NEXT: "tir.cast"(%arg1) {dtype = i32} : (tensor<4xi8>) -> tensor<4xi32>
// CHECK-NEXT: "func.return"
func.func @exact_to_float(%arg0: tensor<4xi1>, %arg1: tensor<4xi8>) -> (tensor<4xi32>, tensor<4xi32>) {
  %0 = "tir.cast"(%arg0) {dtype = f32} : (tensor<4xi1>) -> tensor<4xf32>
  %1 = "tir.cast"(%0) {dtype = i32} : (tensor<4xf32>) -> tensor<4xi32>
  %2 = "tir.cast"(%arg1) {dtype = f16} : (tensor<4xi8>) -> tensor<4xf16>
  %3 = "tir.cast"(%2) {dtype = i32} : (tensor<4xf16>) -> tensor<4xi32>
  "func.return"(%1, %3) : (tensor<4xi32>, tensor<4xi32>) -> ()
}
