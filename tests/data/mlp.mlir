module {
  func.func @mlp(%arg0: tensor<4x3xf32>, %arg1: tensor<3x2xf32>, %arg2: tensor<2xf32>) -> tensor<4x2xf32> {
    %0 = "tir.matmul"(%arg0, %arg1) : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32> loc("model_script.py":7:22)
    %1 = "tir.broadcast"(%arg2) {shape = [4, 2], dims = [1]} : (tensor<2xf32>) -> tensor<4x2xf32> loc("model_script.py":7:22)
    %2 = "tir.add"(%0, %1) : (tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<4x2xf32> loc("model_script.py":7:22)
    %3 = "tir.constant"() {value = dense<0.0> : tensor<4x2xf32>} : () -> tensor<4x2xf32> loc("model_script.py":7:11)
    %4 = "tir.max"(%2, %3) : (tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<4x2xf32> loc("model_script.py":7:11)
    "func.return"(%4) : (tensor<4x2xf32>) -> () loc("model_script.py":6:0)
  }
}
